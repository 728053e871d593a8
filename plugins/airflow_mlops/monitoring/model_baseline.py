"""A deployed model's baseline: its training rows and its own predictions on them, binned.

Fixed once per model version at deployment and at each replacement, it also
carries what later monitoring compares against: the permutation importance the
registry stored at training (``feature_importance``, drift health's high/low
split and ``FeatureDrift.feature_impact``), the model's metric values on its
holdout (accuracy health's reference), the positive class of a binary model
(to read actual labels as 0/1) and a small training sample (the Evidently
report's reference).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import load_snapshot
from airflow_mlops.monitoring.accuracy import compute_accuracy
from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.baseline_fit import build_baseline
from airflow_mlops.monitoring.reads import pairs_for_task
from airflow_mlops.monitoring.warning_boundaries import holdout_boundaries, with_boundaries
from airflow_mlops.registry import (
    ModelRef,
    get_model_version,
    load_predictor,
    model_version_info,
    monitored_values,
)

#: Training rows kept in the baseline as the report's reference sample.
SAMPLE_ROWS = 500


def _json_safe(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if value is None or isinstance(value, str | int | bool):
        return value
    if pd.isna(value):
        return None
    return str(value)


def reference_sample(frame: pd.DataFrame, rows: int = SAMPLE_ROWS, seed: int = 0) -> list[dict[str, Any]]:
    """A reproducible random sample of rows as JSON-safe records."""
    sample = frame.sample(n=min(rows, len(frame)), random_state=seed) if len(frame) else frame
    return [{k: _json_safe(v) for k, v in record.items()} for record in sample.to_dict(orient="records")]


def build_model_baseline(model_id: str, train: pd.DataFrame, holdout: pd.DataFrame | None = None) -> Baseline:
    """Load ``model_id`` from the registry; bin its features and predictions on ``train``.

    With ``holdout``, every accuracy metric of the task is computed on it.
    """
    settings = get_settings()
    info = model_version_info(model_id)
    importance, classes = _registry_extras(model_id, info.features)
    x = train[info.features]
    positive = None if info.task != "binary" or not classes else str(classes[-1])
    if info.kind == "external":
        # Its predictions are made elsewhere: target drift is judged against the
        # training target, the nearest thing to "what the model predicted then".
        baseline = build_baseline(
            x,
            info.features,
            prediction=train[info.target],
            prediction_name=info.target,
            importance=importance,
            top_k=settings.baseline_top_k,
        )
    else:
        predictor = load_predictor(
            ModelRef.parse(model_id).id,
            tracking_uri=settings.mlflow_tracking_uri,
            registry_uri=settings.mlflow_registry_uri,
        )
        baseline = build_baseline(
            x,
            info.features,
            prediction=pd.Series(monitored_values(info.task, predictor.predict(x))),
            prediction_name=info.target,
            importance=importance,
            top_k=settings.baseline_top_k,
        )
        if holdout is not None and len(holdout) and info.target in holdout.columns:
            baseline.holdout_metrics = _metrics_on(info, predictor, holdout, positive)
    baseline.task = info.task
    baseline.positive_class = positive
    baseline.sample = reference_sample(x)
    return baseline


def _metrics_on(
    info: Any, predictor: Any, frame: pd.DataFrame, positive: str | None
) -> dict[str, float | None]:
    """Every accuracy metric of the model's task on labelled rows, computed as monitoring computes them."""
    predicted = monitored_values(info.task, predictor.predict(frame[info.features]))
    pred_text = [repr(float(v)) if info.task != "multiclass" else str(v) for v in predicted]
    actual_text = [str(v) for v in frame[info.target]]
    p, y = pairs_for_task(info.task, pred_text, actual_text, positive)
    return compute_accuracy(info.task, p, y)


def _evaluation_inputs(model_id: str, frame: pd.DataFrame) -> tuple[Any, Any, str | None]:
    """The version's metadata, its loaded predictor and positive class; a clear error if ``frame`` lacks a column."""
    settings = get_settings()
    info = model_version_info(model_id)
    missing = [c for c in [*info.features, info.target] if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot evaluate {model_id}: the labelled rows lack column(s) {missing}")
    _importance, classes = _registry_extras(model_id, info.features)
    positive = None if info.task != "binary" or not classes else str(classes[-1])
    predictor = load_predictor(
        ModelRef.parse(model_id).id,
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_registry_uri,
    )
    return info, predictor, positive


def evaluate_model(model_id: str, frame: pd.DataFrame) -> dict[str, float | None]:
    """Every accuracy metric of a registered model on labelled rows (its features and target).

    The same pairs and formulas as accuracy monitoring and the holdout
    baseline, so a champion and a challenger judged on the same rows are
    compared in the numbers a deployment's accuracy health shows.
    """
    info, predictor, positive = _evaluation_inputs(model_id, frame)
    labelled = frame[frame[info.target].notna()]
    return _metrics_on(info, predictor, labelled, positive)


def evaluate_model_by_group(
    model_id: str, frame: pd.DataFrame, groups: dict[str, pd.Series]
) -> dict[str, dict[str, float | None]]:
    """:func:`evaluate_model` on subsets of ``frame``: ``groups`` maps a name to a boolean row mask.

    The model is loaded once for all of them (a card scores every protected
    group); ``"all"`` need not be among the groups. A group without labelled
    rows gets every metric as ``None``, as monitoring reports an empty window.
    """
    info, predictor, positive = _evaluation_inputs(model_id, frame)
    labelled = frame[info.target].notna()
    out: dict[str, dict[str, float | None]] = {}
    for name, mask in groups.items():
        rows = frame[labelled & mask]
        out[name] = (
            _metrics_on(info, predictor, rows, positive)
            if len(rows)
            else compute_accuracy(info.task, np.array([]), np.array([]))
        )
    return out


def _registry_extras(model_id: str, features: list[str]) -> tuple[dict[str, float], list[Any] | None]:
    """Permutation importance (normalised so the top feature is 1.0) and classes from the registry."""
    settings = get_settings()
    ref = ModelRef.parse(model_id)
    version = get_model_version(
        ref.name,
        ref.version,
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_registry_uri,
    )
    raw = version.feature_importance
    if raw is None and "feature_importance" in version.tags:
        raw = json.loads(version.tags["feature_importance"])
    importance = {k: float(v) for k, v in (raw or {}).items() if k in features}
    top = max((abs(v) for v in importance.values()), default=0.0)
    # DataRobot's importance threshold (0.5) is relative to the most important feature.
    normalised = {k: max(v, 0.0) / top for k, v in importance.items()} if top > 0 else {}
    return normalised, version.classes


def baseline_with_boundaries(model_id: str, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, Any]:
    """The baseline a model version is deployed with: training rows binned, holdout metrics, warning boundaries.

    The one definition used wherever a model is put in place (deploy, replace,
    an approved challenger, a learning model refit through the REST API): its
    training rows binned, its predictions on them, its metrics on the holdout
    (accuracy health's reference) and, for a regression model, the default
    prediction-warning boundaries from its holdout predictions.
    """
    baseline = build_model_baseline(model_id, train, holdout=holdout).to_dict()
    with_bounds = with_boundaries(baseline, holdout_boundaries(model_id, holdout))
    return baseline if with_bounds is None else with_bounds


def baseline_for_snapshot(model_id: str, snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    """:func:`baseline_with_boundaries` on an ingested snapshot (``{"dataset", "version"}``); None without one."""
    if not snapshot:
        return None
    snap = load_snapshot(get_settings().snapshots_dir, snapshot["dataset"], snapshot["version"])
    return baseline_with_boundaries(model_id, snap.train_frame(), snap.holdout_frame())
