"""The rows as every worker of a sweep sees them: checked, with the same holdout and folds.

Each step of a sweep (prepare, every worker, finish) calls
:func:`prepare_data` on the same rows and settings and gets the same cut,
deterministic in the seed, so only the study and MLflow are shared between
processes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from airflow_mlops.automl.families import ModelFamily, resolve_families
from airflow_mlops.automl.fidelity import Stage, plan_stages
from airflow_mlops.automl.pipeline import split_xy
from airflow_mlops.automl.preprocess import FeatureType, infer_feature_types
from airflow_mlops.automl.sweep.config import SweepConfig
from airflow_mlops.automl.task import MetricSpec, TaskType, default_metric, detect_task, get_metric


def _check_classes(y: pd.Series, cv_folds: int) -> None:
    counts = y.value_counts()
    rare = counts[counts < cv_folds]
    if not rare.empty:
        raise ValueError(
            f"classes {rare.to_dict()} have fewer rows than cv_folds={cv_folds}; "
            "each fold needs every class: lower cv_folds, merge rare classes or drop them"
        )


@dataclass
class SweepData:
    """The rows as every worker sees them: the same folds and holdout from the same seed."""

    task: TaskType
    metric: str
    spec: MetricSpec
    families: list[ModelFamily]
    feature_types: dict[str, FeatureType]
    X: pd.DataFrame
    y: pd.Series
    X_holdout: pd.DataFrame | None
    y_holdout: pd.Series | None
    folds: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]
    stages: list[Stage]


def prepare_data(df: pd.DataFrame, config: SweepConfig) -> SweepData:
    """Check the rows against the settings and cut the holdout and folds (deterministic in the seed)."""
    target = config.target
    if target not in df.columns:
        raise ValueError(f"target {target!r} is not a column; columns are {list(df.columns)}")
    task = detect_task(df[target], config.task)
    metric = config.metric or default_metric(task)
    spec = get_metric(metric, task)
    families = resolve_families(config.families, task)
    feature_types = infer_feature_types(df, target, config.exclude)
    X, y = split_xy(df, target, feature_types)
    X, y = X.reset_index(drop=True), y.reset_index(drop=True)
    classification = task != "regression"
    if classification:
        _check_classes(y, config.cv_folds)
    n_holdout = math.floor(len(y) * config.holdout_fraction)
    X_holdout: pd.DataFrame | None = None
    y_holdout: pd.Series | None = None
    if n_holdout >= 2 and (not classification or n_holdout >= y.nunique()):
        X, X_holdout, y, y_holdout = train_test_split(
            X, y, test_size=n_holdout, random_state=config.seed, stratify=y if classification else None
        )
        X, y = X.reset_index(drop=True), y.reset_index(drop=True)
    if len(y) < 2 * config.cv_folds:
        raise ValueError(f"{len(y)} labelled rows are too few for cv_folds={config.cv_folds}")
    splitter: KFold | StratifiedKFold = (
        StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.seed)
        if classification
        else KFold(config.cv_folds, shuffle=True, random_state=config.seed)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only n members"
        folds = [(np.asarray(tr), np.asarray(va)) for tr, va in splitter.split(X, y)]
    stages = plan_stages(min(len(tr) for tr, _ in folds), config.min_sample_rows)
    return SweepData(task, metric, spec, families, feature_types, X, y, X_holdout, y_holdout, folds, stages)
