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
from airflow_mlops.monitoring.baseline import Baseline, FeatureBins
from airflow_mlops.monitoring.baseline_fit import build_baseline
from airflow_mlops.monitoring.cdf import (
    binned_ks,
    binned_wasserstein,
    jensen_shannon_distance,
    ks_error_bound,
    wasserstein_error_bound,
)
from airflow_mlops.monitoring.drift import (
    EPSILON,
    DriftMetric,
    DriftMetricFn,
    drift_metric,
    drift_metric_names,
    drift_score,
    feature_drift,
    get_drift_metric,
    register_drift_metric,
    share_groups,
    smoothed_proportions,
)
from airflow_mlops.monitoring.drift_rule import FeatureVerdict, judge_features
from airflow_mlops.monitoring.fairness import (
    FairnessScores,
    GroupCounts,
    fairness_health,
    fairness_metric_names,
    register_fairness_metric,
)
from airflow_mlops.monitoring.fairness_settings import FAIRNESS_METRICS_SETS, FairnessSettings
from airflow_mlops.monitoring.health import accuracy_health, drift_health, service_health
from airflow_mlops.monitoring.health_settings import (
    AccuracyHealthSettings,
    DriftHealthSettings,
    HealthSettings,
    ServiceHealthSettings,
)

__all__ = [
    "EPSILON",
    "FAIRNESS_METRICS_SETS",
    "AccuracyHealthSettings",
    "Baseline",
    "DriftHealthSettings",
    "DriftMetric",
    "DriftMetricFn",
    "FairnessScores",
    "FairnessSettings",
    "FeatureBins",
    "FeatureVerdict",
    "GroupCounts",
    "HealthSettings",
    "ServiceHealthSettings",
    "accuracy_health",
    "accuracy_metric_names",
    "binned_ks",
    "binned_wasserstein",
    "build_baseline",
    "compute_accuracy",
    "drift_health",
    "drift_metric",
    "drift_metric_names",
    "drift_score",
    "fairness_health",
    "fairness_metric_names",
    "feature_drift",
    "get_accuracy_metric",
    "get_drift_metric",
    "jensen_shannon_distance",
    "judge_features",
    "ks_error_bound",
    "register_accuracy_metric",
    "register_drift_metric",
    "register_fairness_metric",
    "service_health",
    "share_groups",
    "smoothed_proportions",
    "wasserstein_error_bound",
]
