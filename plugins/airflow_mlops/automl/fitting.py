"""Fitting a chosen candidate on all rows: one pipeline, or an ensemble of pipelines.

Its own module because it knows both kinds: the ensemble (:mod:`~airflow_mlops.automl.ensemble`)
builds its members with :func:`~airflow_mlops.automl.pipeline.build_pipeline`, so the pipeline
module itself cannot know about ensembles without an import cycle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from airflow_mlops.automl.ensemble.estimator import ENSEMBLE_FAMILY, WeightedEnsemble, check_members
from airflow_mlops.automl.families import ModelFamily
from airflow_mlops.automl.pipeline import build_pipeline, parallelism, split_xy
from airflow_mlops.automl.preprocess import FeatureType, infer_feature_types
from airflow_mlops.automl.task import TaskType, validate_task

__all__ = ["fit_pipeline"]


def fit_pipeline(
    df: pd.DataFrame,
    target: str,
    family: str | ModelFamily,
    params: Mapping[str, Any],
    task: TaskType,
    seed: int,
    feature_types: Mapping[str, FeatureType] | None = None,
    n_jobs: int | None = None,
) -> Pipeline | WeightedEnsemble:
    """Refit a candidate on all given rows: the sweep's winner becomes a deployable model this way.

    ``family="ensemble"`` refits an ensemble: ``params`` are ``{"members": [{"family", "params"}, ...],
    "weights": [...]}``, as on its leaderboard row.
    """
    validate_task(task)
    types = dict(feature_types) if feature_types is not None else infer_feature_types(df, target)
    X, y = split_xy(df, target, types)
    if len(y) == 0:
        raise ValueError(f"no rows with a known {target!r} to fit on")
    jobs = n_jobs or os.cpu_count() or 1
    model: Pipeline | WeightedEnsemble
    if family == ENSEMBLE_FAMILY:
        # An ensemble's "params" are its members and weights; each member is a pipeline built as below.
        model = WeightedEnsemble(
            params.get("members", ()), params.get("weights", ()), task, seed, types, jobs
        )
        check_members(model.members, model.weights)
    else:
        model = build_pipeline(family, params, task, seed, types, jobs)
    with parallelism(jobs):
        model.fit(X, y)
    return model
