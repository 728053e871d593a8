"""Monitoring reads in DataRobot's shape: any window, or over time per bucket size, from buckets only.

Windows follow DataRobot: ``start_time``/``end_time`` are tops of hours (UTC; a
naive time means UTC), the default is the 7 days before the next top of the
hour, and a window is ``start <= hour < end``. Bucket sizes are ``PT1H``, ``P1D``,
``P7D`` (whole hours from ``start_time``) and ``P1M`` (calendar months from
``start_time``'s day and hour; the last bucket is cut at ``end_time``).
Every read sums stored buckets (drift: whole days from the daily rollup plus the
edge hours): its cost depends on the window, whatever the traffic.
"""

from __future__ import annotations

from airflow_mlops.monitoring.reads.accuracy import (
    Accuracy,
    binary_actuals,
    get_accuracy,
    get_accuracy_over_time,
    pairs_for_task,
)
from airflow_mlops.monitoring.reads.drift import (
    FeatureDriftResult,
    FeatureHistogram,
    TargetDrift,
    get_drift_over_time,
    get_feature_histogram,
    get_target_drift,
    judge_feature_drift,
    list_feature_drift,
    load_baseline,
    window_counts,
)
from airflow_mlops.monitoring.reads.fairness import (
    Fairness,
    FairnessOverTime,
    get_fairness,
    get_fairness_scores_over_time,
)
from airflow_mlops.monitoring.reads.humility import HumilityOverTime, get_humility_stats_over_time
from airflow_mlops.monitoring.reads.predictions_vs_actuals import (
    PredictionsVsActuals,
    get_predictions_vs_actuals_over_time,
)
from airflow_mlops.monitoring.reads.service import (
    ServiceStats,
    get_service_stats,
    get_service_stats_over_time,
)
from airflow_mlops.monitoring.reads.usage import PredictionUsage, prediction_usage
from airflow_mlops.monitoring.reads.window import (
    BUCKET_SIZES,
    MAX_BUCKETS,
    TASK_OF,
    OverTime,
    bucket_bounds,
    model_version_of,
    resolve_window,
)

__all__ = [
    "BUCKET_SIZES",
    "MAX_BUCKETS",
    "TASK_OF",
    "Accuracy",
    "Fairness",
    "FairnessOverTime",
    "FeatureDriftResult",
    "FeatureHistogram",
    "HumilityOverTime",
    "OverTime",
    "PredictionUsage",
    "PredictionsVsActuals",
    "ServiceStats",
    "TargetDrift",
    "binary_actuals",
    "bucket_bounds",
    "get_accuracy",
    "get_accuracy_over_time",
    "get_drift_over_time",
    "get_fairness",
    "get_fairness_scores_over_time",
    "get_feature_histogram",
    "get_humility_stats_over_time",
    "get_predictions_vs_actuals_over_time",
    "get_service_stats",
    "get_service_stats_over_time",
    "get_target_drift",
    "judge_feature_drift",
    "list_feature_drift",
    "load_baseline",
    "model_version_of",
    "pairs_for_task",
    "prediction_usage",
    "resolve_window",
    "window_counts",
]
