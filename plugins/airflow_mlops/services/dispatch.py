"""Scheduled refreshes that fired become retraining requests.

``RetrainingDispatchOperator`` calls this, then emits every undispatched request
as an Asset event; the deciding is here so it can be called and tested without Airflow.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow_mlops.deployments import Deployment
from airflow_mlops.retraining import request_retraining, retraining_policy

log = logging.getLogger(__name__)


def request_due_refreshes(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Record a ``SCHEDULED_REFRESH`` for each active deployment whose refresh schedule fired in [start, end).

    The policy's reasons and cool-down apply; returns one
    ``{deployment_id, request_id, status}`` per request recorded.
    """
    if start >= end:
        raise ValueError(
            f"interval_start ({start.isoformat()}) must be before interval_end ({end.isoformat()})"
        )
    refreshes: list[dict[str, Any]] = []
    for deployment in Deployment.list(status="active"):
        fired = retraining_policy(deployment).refresh_due(start, end)
        if fired is None:
            continue
        request = request_retraining(
            deployment.id,
            "SCHEDULED_REFRESH",
            evidence={
                "schedule": deployment.settings["retraining"]["refresh_schedule"],
                "fired_at": fired.isoformat(),
            },
            origin="schedule",
            requested_at=fired,
        )
        log.info("deployment %s: scheduled refresh at %s: %s", deployment.id, fired, request.message)
        refreshes.append({"deployment_id": deployment.id, "request_id": request.id, "status": request.status})
    return refreshes
