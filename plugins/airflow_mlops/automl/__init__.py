"""AutoML: detect the task, search model families with Optuna, record trials in MLflow.

Importing this package registers the built-in model families. Nothing here
imports Airflow; the operators are thin wrappers around these functions.
"""

from __future__ import annotations

from airflow_mlops.automl.families import (
    ModelFamily,
    ScopedTrial,
    TrialLike,
    family_names,
    get_family,
    register_family,
    unregister_family,
)
from airflow_mlops.automl.preprocess import (
    FeatureType,
    as_category_strings,
    build_preprocessor,
    infer_feature_types,
)
from airflow_mlops.automl.sweep import (
    LEADERBOARD_COLUMNS,
    SweepConfig,
    SweepResult,
    build_pipeline,
    fit_pipeline,
    run_sweep,
)
from airflow_mlops.automl.task import (
    DEFAULT_METRICS,
    METRICS,
    TASK_TYPES,
    MetricSpec,
    TaskType,
    default_metric,
    detect_task,
    get_metric,
    validate_task,
)

__all__ = [
    "DEFAULT_METRICS",
    "LEADERBOARD_COLUMNS",
    "METRICS",
    "TASK_TYPES",
    "FeatureType",
    "MetricSpec",
    "ModelFamily",
    "ScopedTrial",
    "SweepConfig",
    "SweepResult",
    "TaskType",
    "TrialLike",
    "as_category_strings",
    "build_pipeline",
    "build_preprocessor",
    "default_metric",
    "detect_task",
    "family_names",
    "fit_pipeline",
    "get_family",
    "get_metric",
    "infer_feature_types",
    "register_family",
    "run_sweep",
    "unregister_family",
    "validate_task",
]
