"""AutoML: detect the task, search model families with Optuna, record trials in MLflow.

Importing this package registers the built-in model families. Nothing here
imports Airflow; the operators are thin wrappers around these functions.
"""

from __future__ import annotations

from airflow_mlops.automl.dates import DateFeatures, looks_like_dates
from airflow_mlops.automl.encoders import ENCODING_PARAM, HIGH_CARDINALITY_ENCODINGS, FrequencyEncoder
from airflow_mlops.automl.families import (
    ModelFamily,
    ScopedTrial,
    TrialLike,
    family_names,
    get_family,
    register_family,
    unregister_family,
)
from airflow_mlops.automl.fitting import fit_pipeline
from airflow_mlops.automl.leaderboard import (
    LEADERBOARD_ARTIFACT,
    LEADERBOARD_COLUMNS,
    build_leaderboard,
    get_leaderboard,
    load_leaderboard,
)
from airflow_mlops.automl.modes import AUTOPILOT_MODES, DEFAULT_MODE, AutopilotMode, get_mode
from airflow_mlops.automl.pipeline import build_pipeline
from airflow_mlops.automl.preprocess import (
    FeatureType,
    as_category_codes,
    as_category_strings,
    build_preprocessor,
    infer_feature_types,
    is_code_column,
)
from airflow_mlops.automl.storage import default_storage, open_storage, recover_interrupted_trials
from airflow_mlops.automl.sweep import (
    SweepConfig,
    SweepHandle,
    SweepResult,
    WorkerReport,
    finish_sweep,
    prepare_sweep,
    run_sweep,
    run_worker,
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
    "AUTOPILOT_MODES",
    "DEFAULT_METRICS",
    "DEFAULT_MODE",
    "ENCODING_PARAM",
    "HIGH_CARDINALITY_ENCODINGS",
    "LEADERBOARD_ARTIFACT",
    "LEADERBOARD_COLUMNS",
    "METRICS",
    "TASK_TYPES",
    "AutopilotMode",
    "DateFeatures",
    "FeatureType",
    "FrequencyEncoder",
    "MetricSpec",
    "ModelFamily",
    "ScopedTrial",
    "SweepConfig",
    "SweepHandle",
    "SweepResult",
    "TaskType",
    "TrialLike",
    "WorkerReport",
    "as_category_codes",
    "as_category_strings",
    "build_leaderboard",
    "build_pipeline",
    "build_preprocessor",
    "default_metric",
    "default_storage",
    "detect_task",
    "family_names",
    "finish_sweep",
    "fit_pipeline",
    "get_family",
    "get_leaderboard",
    "get_metric",
    "get_mode",
    "infer_feature_types",
    "is_code_column",
    "load_leaderboard",
    "looks_like_dates",
    "open_storage",
    "prepare_sweep",
    "recover_interrupted_trials",
    "register_family",
    "run_sweep",
    "run_worker",
    "unregister_family",
    "validate_task",
]
