"""Accuracy of a window, or over time, from the (prediction, actual) pairs kept per hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select

from airflow_mlops.monitoring.accuracy import (
    accuracy_metric_names,
    compute_accuracy,
    get_accuracy_metric,
)
from airflow_mlops.monitoring.actuals import pending_actuals
from airflow_mlops.monitoring.reads.drift import load_baseline
from airflow_mlops.monitoring.reads.window import (
    TASK_OF,
    OverTime,
    bucket_bounds,
    bucket_index,
    model_version_of,
    period_of,
    resolve_window,
)
from airflow_mlops.store import (
    AccuracyBucketRow,
    BaselineRow,
    session_scope,
)


def binary_actuals(actuals: list[str], positive: str | None) -> np.ndarray:
    """Class labels to 1 (the positive class) / 0; ``'1'`` and ``'1.0'`` are the same label."""

    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None

    if positive is None:
        truthy = {"1", "1.0", "true", "yes"}
        return np.array([1.0 if a.strip().lower() in truthy else 0.0 for a in actuals])
    pos_num = number(positive)
    out = np.empty(len(actuals))
    for i, actual in enumerate(actuals):
        num = number(actual)
        out[i] = (
            1.0 if actual == positive or (num is not None and pos_num is not None and num == pos_num) else 0.0
        )
    return out


def pairs_for_task(
    task: str, predictions: list[str], actuals: list[str], positive: str | None
) -> tuple[np.ndarray, np.ndarray]:
    if task == "multiclass":
        return np.asarray(predictions, dtype=object), np.asarray(actuals, dtype=object)
    p = np.asarray([float(v) for v in predictions], dtype="float64")
    if task == "binary":
        return p, binary_actuals(actuals, positive)
    return p, np.asarray([float(v) for v in actuals], dtype="float64")


@dataclass
class Accuracy:
    """DataRobot's ``Accuracy``: ``metrics`` maps each ACCURACY_METRIC of the task to its value."""

    deployment_id: str
    model_id: str | None
    period: dict[str, str]
    metrics: dict[str, float | None]
    baseline_metrics: dict[str, float | None]
    actuals_joined: int
    pairs_used: int
    pending_actuals: int

    def __getitem__(self, metric: str) -> float | None:
        if metric not in self.metrics:
            raise KeyError(
                f"{metric!r} is not an accuracy metric of this deployment; expected one of {list(self.metrics)}"
            )
        return self.metrics[metric]


def accuracy_rows(
    store_url: str, deployment_id: str, version: str | None, start: datetime, end: datetime
) -> list[tuple[datetime, str, int, list[str], list[str]]]:
    """Each hour's ``(hour, model version, joined, predictions, actuals)``: every accuracy read starts here."""
    query = select(
        AccuracyBucketRow.hour,
        AccuracyBucketRow.model_version,
        AccuracyBucketRow.joined,
        AccuracyBucketRow.predictions,
        AccuracyBucketRow.actuals,
    ).where(
        AccuracyBucketRow.deployment_id == deployment_id,
        AccuracyBucketRow.hour >= start,
        AccuracyBucketRow.hour < end,
    )
    if version is not None:
        query = query.where(AccuracyBucketRow.model_version == version)
    with session_scope(store_url) as session:
        return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


def positive_classes(store_url: str, deployment_id: str) -> dict[str, str | None]:
    """Each model version's positive class (binary), from its baseline."""
    with session_scope(store_url) as session:
        return {
            row.model_version: (row.baseline or {}).get("positive_class")
            for row in session.scalars(select(BaselineRow).where(BaselineRow.deployment_id == deployment_id))
        }


def _metrics_over(
    task: str,
    rows: list[tuple[datetime, str, int, list[str], list[str]]],
    positives: dict[str, str | None],
    names: list[str] | None,
) -> tuple[dict[str, float | None], int, int]:
    preds: list[np.ndarray] = []
    acts: list[np.ndarray] = []
    joined = 0
    for _hour, version, n, p, a in rows:
        joined += int(n or 0)
        pp, aa = pairs_for_task(task, p, a, positives.get(version))
        preds.append(pp)
        acts.append(aa)
    p_all = np.concatenate(preds) if preds else np.zeros(0)
    a_all = np.concatenate(acts) if acts else np.zeros(0)
    return compute_accuracy(task, p_all, a_all, names), joined, len(p_all)


def get_accuracy(
    deployment_id: str,
    *,
    store_url: str,
    target_type: str,
    model_id: str | None = None,
    current_version: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
) -> Accuracy:
    task = TASK_OF[target_type]
    start, end = resolve_window(start_time, end_time)
    version = model_version_of(model_id)
    rows = accuracy_rows(store_url, deployment_id, version, start, end)
    metrics, joined, used = _metrics_over(task, rows, positive_classes(store_url, deployment_id), None)
    baseline = load_baseline(store_url, deployment_id, version or current_version or "")
    return Accuracy(
        deployment_id,
        model_id,
        period_of(start, end),
        metrics,
        dict(baseline.holdout_metrics) if baseline is not None else {},
        joined,
        used,
        pending_actuals(deployment_id, store_url=store_url),
    )


def get_accuracy_over_time(
    deployment_id: str,
    *,
    store_url: str,
    target_type: str,
    metric: str | None = None,
    bucket_size: str = "P1D",
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
) -> OverTime:
    task = TASK_OF[target_type]
    name = metric or accuracy_metric_names(task)[0]
    get_accuracy_metric(name, task)
    start, end = resolve_window(start_time, end_time)
    bounds = bucket_bounds(start, end, bucket_size)
    grouped: list[list[tuple[datetime, str, int, list[str], list[str]]]] = [[] for _ in bounds]
    for row in accuracy_rows(store_url, deployment_id, model_version_of(model_id), start, end):
        grouped[bucket_index(bounds, row[0])].append(row)
    positives = positive_classes(store_url, deployment_id)
    result = OverTime(deployment_id, model_id, name, bucket_size, period_of(start, end), [])
    for (lo, hi), rows in zip(bounds, grouped, strict=True):
        values, _joined, used = _metrics_over(task, rows, positives, [name])
        result.buckets.append({"period": period_of(lo, hi), "value": values[name], "sampleSize": used})
        result.bucket_values[lo] = values[name]
    result.extra["pending_actuals"] = pending_actuals(deployment_id, store_url=store_url)
    return result
