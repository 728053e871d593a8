"""Humility stats over time: how many predictions the prediction warnings flagged, per bucket.

A regression deployment with prediction warnings on flags each prediction
outside its boundaries (:mod:`airflow_mlops.serving.warnings`) and logs the flag
(``prediction_warning``); the fold counts, per hour, the scored rows that carry a
flag and those flagged (``warned_rows``, ``outlier_predictions`` in the service
buckets). A bucket's ``value`` is the share flagged, ``None`` when no row in it
was checked (warnings off, or no traffic): unknown, not "no outliers".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from airflow_mlops.monitoring.reads.window import (
    bucket_bounds,
    bucket_index,
    model_version_of,
    period_of,
    resolve_window,
)
from airflow_mlops.store import ServiceBucketRow, session_scope


@dataclass
class HumilityOverTime:
    """One bucket per ``bucket_size``: ``{period, rowCount, outlierPredictions, value}``."""

    deployment_id: str
    model_id: str | None
    bucket_size: str
    period: dict[str, str]
    buckets: list[dict[str, Any]]


def get_humility_stats_over_time(
    deployment_id: str,
    *,
    store_url: str,
    bucket_size: str = "P1D",
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
) -> HumilityOverTime:
    start, end = resolve_window(start_time, end_time)
    bounds = bucket_bounds(start, end, bucket_size)
    query = select(
        ServiceBucketRow.hour,
        func.sum(ServiceBucketRow.warned_rows),
        func.sum(ServiceBucketRow.outlier_predictions),
    ).where(
        ServiceBucketRow.deployment_id == deployment_id,
        ServiceBucketRow.hour >= start,
        ServiceBucketRow.hour < end,
    )
    version = model_version_of(model_id)
    if version is not None:
        query = query.where(ServiceBucketRow.model_version == version)
    checked = [0 for _ in bounds]
    flagged = [0 for _ in bounds]
    with session_scope(store_url) as session:
        for hour, rows, outliers in session.execute(query.group_by(ServiceBucketRow.hour)):
            i = bucket_index(bounds, hour)
            checked[i] += int(rows or 0)
            flagged[i] += int(outliers or 0)
    buckets = [
        {
            "period": period_of(lo, hi),
            "rowCount": n,
            "outlierPredictions": k,
            "value": k / n if n else None,
        }
        for (lo, hi), n, k in zip(bounds, checked, flagged, strict=True)
    ]
    return HumilityOverTime(deployment_id, model_id, bucket_size, period_of(start, end), buckets)
