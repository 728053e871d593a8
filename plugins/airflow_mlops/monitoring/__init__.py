"""Monitoring maths: fixed baselines, drift metrics over count vectors, drift health.

No Airflow here: tasks call these functions, tests call them directly.
"""

from __future__ import annotations

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
from airflow_mlops.monitoring.health import DriftHealthSettings, drift_health

__all__ = [
    "EPSILON",
    "Baseline",
    "DriftHealthSettings",
    "DriftMetricFn",
    "FeatureBins",
    "build_baseline",
    "drift_health",
    "drift_metric_names",
    "drift_score",
    "feature_drift",
    "get_drift_metric",
    "register_drift_metric",
    "smoothed_proportions",
]
