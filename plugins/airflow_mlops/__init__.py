"""airflow-mlops: the model lifecycle as an Airflow 3 plugin."""

from __future__ import annotations

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.enums import (
    DATA_DRIFT_METRIC,
    DEPLOYMENT_IMPORTANCE,
    DEPLOYMENT_STATUS,
    HEALTH_STATUS,
    MODEL_REPLACEMENT_REASON,
    SERVICE_STAT_METRIC,
)

__version__ = "0.1.0"

__all__ = [
    "DATA_DRIFT_METRIC",
    "DEPLOYMENT_IMPORTANCE",
    "DEPLOYMENT_STATUS",
    "HEALTH_STATUS",
    "MODEL_REPLACEMENT_REASON",
    "SERVICE_STAT_METRIC",
    "Settings",
    "__version__",
    "get_settings",
]
