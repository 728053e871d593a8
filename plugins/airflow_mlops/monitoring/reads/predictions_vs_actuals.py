"""DataRobot's ``predictionsVsActualsOverTime``: per bucket, what the model said against what happened.

Built on the pairs accuracy reads (each hour's joined (prediction, actual)
pairs, :func:`~airflow_mlops.monitoring.reads.accuracy.accuracy_rows`), so the
chart and the accuracy metrics see the same rows; the bucket's total predictions
come from the service buckets, so ``rowCountTotal - rowCountWithActual`` is what
still waits for an actual.

Per task (the values the prediction log holds, see :mod:`airflow_mlops.monitoring.accuracy`):

* regression: the mean predicted and mean actual value of the joined rows;
* binary: the mean positive-class probability and the share of actuals that are
  the positive class, and both class distributions (predicted class: ``p >= 0.5``);
* multiclass: both class distributions (labels as text); no means.

Means and distributions use the pairs an hour keeps (``MAX_PAIRS_PER_HOUR``);
``rowCountWithActual`` counts every joined row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select

from airflow_mlops.monitoring.reads.accuracy import accuracy_rows, pairs_for_task, positive_classes
from airflow_mlops.monitoring.reads.window import (
    TASK_OF,
    bucket_bounds,
    bucket_index,
    model_version_of,
    period_of,
    resolve_window,
)
from airflow_mlops.store import ServiceBucketRow, session_scope


@dataclass
class PredictionsVsActuals:
    """One bucket per ``bucket_size`` over the window, each a dict in the API's camelCase."""

    deployment_id: str
    model_id: str | None
    bucket_size: str
    period: dict[str, str]
    buckets: list[dict[str, Any]]


def _predictions_per_hour(
    store_url: str, deployment_id: str, version: str | None, start: datetime, end: datetime
) -> list[tuple[datetime, int]]:
    query = select(ServiceBucketRow.hour, func.sum(ServiceBucketRow.predictions)).where(
        ServiceBucketRow.deployment_id == deployment_id,
        ServiceBucketRow.hour >= start,
        ServiceBucketRow.hour < end,
    )
    if version is not None:
        query = query.where(ServiceBucketRow.model_version == version)
    with session_scope(store_url) as session:
        return [(hour, int(n or 0)) for hour, n in session.execute(query.group_by(ServiceBucketRow.hour))]


def _distribution(labels: list[str]) -> list[dict[str, Any]]:
    return [{"className": name, "count": count} for name, count in sorted(Counter(labels).items())]


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def _summary(
    task: str,
    rows: list[tuple[datetime, str, int, list[str], list[str]]],
    positives: dict[str, str | None],
    class_names: tuple[str, str] | None,
) -> dict[str, Any]:
    """The joined rows' means (and class distributions for a classification task)."""
    summary: dict[str, Any] = {"meanPredictedValue": None, "meanActualValue": None}
    if task == "multiclass":
        predicted = [p for _h, _v, _n, ps, _a in rows for p in ps]
        actual = [a for _h, _v, _n, _p, acts in rows for a in acts]
        return {
            **summary,
            "predictedClassDistribution": _distribution(predicted),
            "actualClassDistribution": _distribution(actual),
        }
    pairs = [pairs_for_task(task, ps, acts, positives.get(v)) for _h, v, _n, ps, acts in rows]
    p = np.concatenate([pp for pp, _ in pairs]) if pairs else np.zeros(0)
    a = np.concatenate([aa for _, aa in pairs]) if pairs else np.zeros(0)
    summary = {"meanPredictedValue": _mean(p), "meanActualValue": _mean(a)}
    if task == "binary":
        negative, positive = class_names or ("0", "1")
        summary["predictedClassDistribution"] = _distribution(
            [positive if x >= 0.5 else negative for x in p if np.isfinite(x)]
        )
        summary["actualClassDistribution"] = _distribution([positive if x else negative for x in a])
    return summary


def get_predictions_vs_actuals_over_time(
    deployment_id: str,
    *,
    store_url: str,
    target_type: str,
    bucket_size: str = "P1D",
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    class_names: tuple[str, str] | None = None,
) -> PredictionsVsActuals:
    """Predicted against actual per bucket; ``class_names`` (negative, positive) names a binary task's classes."""
    task = TASK_OF[target_type]
    start, end = resolve_window(start_time, end_time)
    bounds = bucket_bounds(start, end, bucket_size)
    version = model_version_of(model_id)
    totals = [0 for _ in bounds]
    for hour, n in _predictions_per_hour(store_url, deployment_id, version, start, end):
        totals[bucket_index(bounds, hour)] += n
    grouped: list[list[tuple[datetime, str, int, list[str], list[str]]]] = [[] for _ in bounds]
    for row in accuracy_rows(store_url, deployment_id, version, start, end):
        grouped[bucket_index(bounds, row[0])].append(row)
    positives = positive_classes(store_url, deployment_id)
    buckets = [
        {
            "period": period_of(lo, hi),
            "rowCountTotal": total,
            "rowCountWithActual": sum(int(r[2] or 0) for r in rows),
            **_summary(task, rows, positives, class_names),
        }
        for (lo, hi), total, rows in zip(bounds, totals, grouped, strict=True)
    ]
    return PredictionsVsActuals(deployment_id, model_id, bucket_size, period_of(start, end), buckets)
