"""Monitoring maths: fixed baselines, drift metrics over count vectors, drift health.

No Airflow here: tasks call these functions, tests call them directly.
"""

from __future__ import annotations

from airflow_mlops.monitoring.accuracy import (
    accuracy_metric_names,
    compute_accuracy,
    get_accuracy_metric,
    register_accuracy_metric,
)
from airflow_mlops.monitoring.baseline import Baseline, FeatureBins, build_baseline
from airflow_mlops.monitoring.drift import (
    EPSILON,
    DriftMetricFn,
    drift_metric_names,
    drift_score,
    feature_drift,
    get_drift_metric,
    register_drift_metric,
    smoothed_proportions,
)
from airflow_mlops.monitoring.health import accuracy_health, drift_health, service_health
from airflow_mlops.monitoring.health_settings import (
    AccuracyHealthSettings,
    DriftHealthSettings,
    HealthSettings,
    ServiceHealthSettings,
)

__all__ = [
    "EPSILON",
    "AccuracyHealthSettings",
    "Baseline",
    "DriftHealthSettings",
    "DriftMetricFn",
    "FeatureBins",
    "HealthSettings",
    "ServiceHealthSettings",
    "accuracy_health",
    "accuracy_metric_names",
    "build_baseline",
    "compute_accuracy",
    "drift_health",
    "drift_metric_names",
    "drift_score",
    "feature_drift",
    "get_accuracy_metric",
    "get_drift_metric",
    "register_accuracy_metric",
    "register_drift_metric",
    "service_health",
    "smoothed_proportions",
]
