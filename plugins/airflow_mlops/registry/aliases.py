"""The ``deployment-<id>`` alias: MLflow's mirror of which version a deployment serves.

The MLOps store is authoritative; the alias is for people browsing the registry,
so failing to move it is logged, never raised (a registry outage must not undo a
committed replacement).
"""

from __future__ import annotations

import logging

from airflow_mlops.config import get_settings
from airflow_mlops.registry.model_ref import ModelRef
from airflow_mlops.registry.models import delete_alias, set_alias

log = logging.getLogger(__name__)


def deployment_alias(deployment_id: str) -> str:
    return f"deployment-{deployment_id}"


def mirror_deployment_alias(ref: ModelRef, deployment_id: str) -> None:
    """Point ``deployment-<id>`` at ``ref`` (best effort)."""
    settings = get_settings()
    try:
        set_alias(
            ref.name,
            deployment_alias(deployment_id),
            ref.version,
            tracking_uri=settings.mlflow_tracking_uri,
            registry_uri=settings.mlflow_registry_uri,
        )
    except Exception as exc:  # the registry being down must not undo a committed replacement
        log.warning("could not set MLflow alias for deployment %s on %s: %s", deployment_id, ref.id, exc)


def drop_deployment_alias(ref: ModelRef, deployment_id: str) -> None:
    """Remove ``deployment-<id>`` from ``ref``'s registered model (best effort)."""
    settings = get_settings()
    try:
        delete_alias(
            ref.name,
            deployment_alias(deployment_id),
            tracking_uri=settings.mlflow_tracking_uri,
            registry_uri=settings.mlflow_registry_uri,
        )
    except Exception as exc:  # an alias left behind is cosmetic; the deployment is gone from the store
        log.warning("could not delete MLflow alias of deployment %s: %s", deployment_id, exc)
