"""The MLflow side of a sweep: which store its runs go to and how its metrics are named.

Every step uses an explicit client rather than MLflow's fluent API, so a
caller's active run is never nested into and the store is never MLflow's
``./mlruns`` default.
"""

from __future__ import annotations

from mlflow import MlflowClient

from airflow_mlops.automl.sweep.config import SweepConfig
from airflow_mlops.config import get_settings


def mlflow_client(config: SweepConfig) -> MlflowClient:
    """A client of the sweep's ``tracking_uri``, else of the project settings' store."""
    return MlflowClient(tracking_uri=config.tracking_uri or get_settings().mlflow_tracking_uri)


def metric_key(metric: str) -> str:
    """``metric`` as the stem of the sweep's MLflow metric names: ``R Squared`` gives ``best_R_Squared``."""
    return metric.replace(" ", "_")
