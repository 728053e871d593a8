"""A deployment's model card: its current version's card with the deployment's owners and replacement history.

The card is logged beside the version's own card, on the version's run
(``model_card/deployment-<id>/``), and made again whenever the deployment's
model is replaced (:meth:`~airflow_mlops.deployments.Deployment.replace_model`
calls :meth:`ModelCards.refresh_model_card`), so the history on it is the
deployment's. A read finds a logged card stale, and makes it again, when the
deployment's history or protected features differ from those on it (a card
made before a failed refresh, or before the fairness settings changed).

Protected features come from the deployment's settings through
:func:`protected_features_of`, the one hook for the fairness settings of issue 20
(a ``fairness`` section with ``protected_features``): until that section exists
every deployment has none, and a caller may pass them explicitly.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops.config import get_settings
from airflow_mlops.registry import model_version_info
from airflow_mlops.registry.model_card import CARD_FORMATS, ModelCard, read_model_card
from airflow_mlops.training import model_card

log = logging.getLogger(__name__)


def protected_features_of(settings: Mapping[str, Any]) -> list[str]:
    """The protected features the deployment's bias-and-fairness settings name, else none.

    They are the ``bias_and_fairness`` section's ``protected_features``
    (:mod:`airflow_mlops.monitoring.fairness_settings`); the card reports its holdout
    metrics per group of each.
    """
    section = settings.get("bias_and_fairness") or {}
    features = section.get("protected_features") if isinstance(section, Mapping) else None
    return [str(f) for f in features or []]


class ModelCards:
    """The model card half of :class:`~airflow_mlops.deployments.Deployment` (a mixin, to keep modules small)."""

    id: str
    label: str
    description: str | None
    model: dict[str, Any]
    settings: dict[str, Any]

    if TYPE_CHECKING:

        def get_model_history(self) -> builtins.list[dict[str, Any]]: ...

        def list_shared_roles(self) -> builtins.list[dict[str, str]]: ...

    def _card_context(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "description": self.description,
            "owners": [r["username"] for r in self.list_shared_roles() if r["role"] == "OWNER"],
            "history": self.get_model_history(),
        }

    def refresh_model_card(self, protected_features: Sequence[str] | None = None) -> ModelCard:
        """Make this deployment's card for its current model and log it (Markdown, HTML, JSON).

        ``protected_features`` default to the deployment's fairness settings
        (:func:`protected_features_of`).
        """
        protected = (
            list(protected_features)
            if protected_features is not None
            else protected_features_of(self.settings)
        )
        card, _logged = model_card(
            self.model["id"], protected_features=protected, deployment=self._card_context()
        )
        return card

    def get_model_card(self, fmt: str = "html") -> str:
        """The card of this deployment in ``fmt`` (``html``, ``markdown`` or ``json``), made if missing or stale."""
        if fmt not in CARD_FORMATS:
            raise ValueError(
                f"format={fmt!r} is not a model card format; expected one of {list(CARD_FORMATS)}"
            )
        settings = get_settings()
        run_id = model_version_info(self.model["id"]).run_id
        if run_id is None:
            raise ValueError(f"model {self.model['id']!r} has no MLflow run, so it has no model card")

        def read(kind: str) -> str | None:
            return read_model_card(
                run_id,
                kind,
                deployment_id=self.id,
                tracking_uri=settings.mlflow_tracking_uri,
                registry_uri=settings.mlflow_registry_uri,
            )

        logged = read("json")
        current = json.loads(logged) if logged is not None else None
        if current is None or self._stale(current):
            card = self.refresh_model_card()
            if fmt == "json":
                return json.dumps(card.to_dict(), indent=2, default=str)
        text = read(fmt)
        if text is None:
            raise LookupError(
                f"the model card of deployment {self.id} was logged but its {fmt} file is missing"
            )
        return text

    def _stale(self, card: Mapping[str, Any]) -> bool:
        history = (card.get("deployment") or {}).get("history") or []
        return (
            card.get("model_id") != self.model["id"]
            or len(history) != len(self.get_model_history())
            or list(card.get("protected_features") or []) != protected_features_of(self.settings)
        )
