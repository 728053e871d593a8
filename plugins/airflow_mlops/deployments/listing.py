"""DataRobot's list filters and sort orders for ``Deployment.list``."""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field

from airflow_mlops.enums import DEPLOYMENT_IMPORTANCE, DEPLOYMENT_ROLE, HEALTH_STATUS, parse_enum

#: Health statuses ordered from worst to best, for ``order_by="-serviceHealth"`` and friends.
HEALTH_RANK = {"failing": 3, "warning": 2, "passing": 1, "unknown": 0, "unavailable": 0}
IMPORTANCE_RANK = {"CRITICAL": 4, "HIGH": 3, "MODERATE": 2, "LOW": 1, None: 0}
ORDER_FIELDS = (
    "label",
    "createdAt",
    "updatedAt",
    "importance",
    "serviceHealth",
    "modelHealth",
    "accuracyHealth",
    # DataRobot's usage orders: the last 7 days' prediction count, the newest prediction's time.
    "recentPredictions",
    "lastPredictionTimestamp",
)
#: The order keys that need each deployment's prediction usage (folded service buckets).
USAGE_ORDERS = frozenset({"recentPredictions", "lastPredictionTimestamp"})


def registered_model_name_for(label: str) -> str:
    """The registered-model name a learning model is registered under when none is given.

    DataRobot's ``create_from_learning_model`` has no such name (its leaderboard
    models are registered implicitly), so one is derived from the deployment's
    label: every run of whitespace or ``/`` becomes ``-``, leading and trailing
    ``-`` are dropped, and the result is cut to 256 characters (``"deployment"``
    if nothing is left). It matches ``^[^/\\s]+$``, which MLflow model URIs
    (``models:/<name>/<version>``) need.
    """
    name = re.sub(r"[\s/]+", "-", label).strip("-")[:256].strip("-")
    return name or "deployment"


@dataclass
class DeploymentListFilters:
    """DataRobot's list filters; each field is a list of accepted values (empty: any)."""

    role: builtins.list[str] = field(default_factory=builtins.list)
    service_health: builtins.list[str] = field(default_factory=builtins.list)
    model_health: builtins.list[str] = field(default_factory=builtins.list)
    accuracy_health: builtins.list[str] = field(default_factory=builtins.list)
    importance: builtins.list[str] = field(default_factory=builtins.list)

    def __post_init__(self) -> None:
        for name in ("service_health", "model_health", "accuracy_health"):
            setattr(
                self,
                name,
                [parse_enum(HEALTH_STATUS, v, field=f"filters.{name}").value for v in getattr(self, name)],
            )
        self.importance = [
            parse_enum(DEPLOYMENT_IMPORTANCE, v, field="filters.importance").value for v in self.importance
        ]
        self.role = [parse_enum(DEPLOYMENT_ROLE, v, field="filters.role").value for v in self.role]
