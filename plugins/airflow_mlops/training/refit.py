"""Refit a sweep's winner on all training rows, register it with lineage, and fix its baseline.

One path for every way a model reaches the registry from a sweep: the training
DAG's ``RegisterModelOperator`` (the sweep's best candidate), a retrain (the same
operator in ``mlops_retrain``) and DataRobot's "deploy a leaderboard model"
(``Deployment.create_from_learning_model`` and ``POST …/fromLearningModel/``).
Keeping it in one function keeps the three from drifting apart: the same
columns dropped, the same rows for permutation importance (the snapshot's
labelled holdout rows, else the training rows), the same lineage tags and the
same baseline (training rows binned plus holdout metrics and warning boundaries).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from airflow_mlops.automl import fit_pipeline, validate_task
from airflow_mlops.automl.importance import permutation_feature_importance
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.datasets import Snapshot, load_snapshot, log_snapshot_input
from airflow_mlops.monitoring.model_baseline import baseline_with_boundaries
from airflow_mlops.registry import register_model
from airflow_mlops.training.model_card import model_card

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefitSpec:
    """What a refit needs to rebuild a sweep candidate: its family and parameters, the task and metric."""

    family: str
    params: Mapping[str, Any]
    task: str
    metric: str
    target: str
    seed: int = 0
    exclude_columns: Sequence[str] = ()


@dataclass
class RefitModel:
    """A refit, registered model version: its id, run, importance and (when asked for) baseline."""

    model_id: str
    run_id: str
    importance: dict[str, float]
    baseline: dict[str, Any] | None = None


def _without(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    return frame.drop(columns=[c for c in columns if c in frame.columns])


def importance_rows(train: pd.DataFrame, holdout: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows permutation importance is measured on: the labelled holdout, else the training rows."""
    return holdout if len(holdout) and target in holdout.columns and holdout[target].notna().any() else train


def refit_and_register(
    snapshot: Snapshot | Mapping[str, str],
    spec: RefitSpec,
    *,
    registered_model_name: str,
    experiment_name: str,
    tags: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    with_baseline: bool = True,
    settings: Settings | None = None,
) -> RefitModel:
    """Fit ``spec`` on the snapshot's training rows, register it, and build its deployment baseline.

    ``snapshot`` is a loaded :class:`~airflow_mlops.datasets.Snapshot` or an
    ingestion result (``{"dataset", "version"}``). ``with_baseline=False`` skips
    the baseline when the caller deploys later from the same snapshot (the
    training DAG's deploy step builds it then, with the same function).
    """
    settings = settings or get_settings()
    if not isinstance(snapshot, Snapshot):
        if not isinstance(snapshot, Mapping) or not {"dataset", "version"} <= set(snapshot):
            raise TypeError(
                f"snapshot must be an ingestion result with 'dataset' and 'version', got {snapshot!r}"
            )
        snapshot = load_snapshot(settings.snapshots_dir, snapshot["dataset"], snapshot["version"])
    task = validate_task(spec.task)
    train = _without(snapshot.train_frame(), spec.exclude_columns)
    holdout = _without(snapshot.holdout_frame(), spec.exclude_columns)
    if spec.target not in train.columns:
        raise ValueError(
            f"target={spec.target!r} is not a column of snapshot {snapshot.dataset}/{snapshot.version} "
            f"(after excluding {list(spec.exclude_columns)}); columns: {sorted(train.columns)}"
        )
    pipeline = fit_pipeline(train, spec.target, spec.family, dict(spec.params), task, spec.seed)
    scored = importance_rows(train, holdout, spec.target)
    features = [c for c in train.columns if c != spec.target]
    importance = permutation_feature_importance(
        pipeline, scored[features], scored[spec.target], metric=spec.metric, task=task, seed=spec.seed
    )
    version_tags = {
        "family": spec.family,
        "dataset": snapshot.dataset,
        "dataset_version": snapshot.version,
        "metric": spec.metric,
        **dict(tags or {}),
    }
    registered = register_model(
        pipeline,
        name=registered_model_name,
        train_df=train,
        target=spec.target,
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_registry_uri,
        experiment_name=experiment_name,
        tags=version_tags,
        metrics=metrics,
        feature_importance=importance,
    )
    run_id = str(registered.run_id)
    log_snapshot_input(snapshot, run_id=run_id, tracking_uri=settings.mlflow_tracking_uri)
    model_id = f"{registered.name}/{registered.version}"
    try:
        model_card(model_id, settings=settings)
    except Exception:  # the version is registered: a card can still be made on demand (model_card)
        log.warning(
            "the model card of %s could not be made; it is made when first asked for", model_id, exc_info=True
        )
    log.info(
        "registered %s from run %s; most important features: %s",
        model_id,
        run_id,
        dict(list(importance.items())[:3]),
    )
    return RefitModel(
        model_id=model_id,
        run_id=run_id,
        importance=importance,
        baseline=baseline_with_boundaries(model_id, train, holdout) if with_baseline else None,
    )
