"""Reads over any time window: sums of hourly buckets, never a rescan of predictions.

A window query touches one row per whole day plus its edge hours, however many
predictions those hours hold, which is what makes a 7-day drift query cost the
same for a thousand predictions as for a billion.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select

from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.drift import feature_drift
from airflow_mlops.monitoring.reads.drift import window_counts as drift_window_counts
from airflow_mlops.store import ServiceBucketRow, session_scope


def window_counts(
    store_url: str, deployment_id: str, model_version: str, start: datetime, end: datetime
) -> dict[str, NDArray[np.int64]]:
    """Per feature, the bin counts of every bucket with ``start <= hour < end``, summed.

    The same sum as :func:`airflow_mlops.monitoring.reads.drift.window_counts`
    (daily rollups plus edge hours), for every stored feature and the target.
    """
    return drift_window_counts(store_url, deployment_id, model_version, start, end)


def predictions_per_hour(
    store_url: str, deployment_id: str, start: datetime, end: datetime
) -> dict[datetime, int]:
    """Total predictions in each hour of the window (all model versions), in time order."""
    per_hour: dict[datetime, int] = defaultdict(int)
    with session_scope(store_url) as session:
        rows = session.execute(
            select(ServiceBucketRow.hour, func.sum(ServiceBucketRow.predictions))
            .where(
                ServiceBucketRow.deployment_id == deployment_id,
                ServiceBucketRow.hour >= start,
                ServiceBucketRow.hour < end,
            )
            .group_by(ServiceBucketRow.hour)
            .order_by(ServiceBucketRow.hour)
        )
        for hour, total in rows:
            per_hour[hour] += int(total or 0)
    return dict(per_hour)


def drift_scores(
    store_url: str,
    deployment_id: str,
    model_version: str,
    baseline: Baseline,
    start: datetime,
    end: datetime,
    metric: str = "psi",
) -> tuple[dict[str, float], dict[str, int]]:
    """Drift per feature (and for the prediction, under the target's name) and each sample size."""
    counts = window_counts(store_url, deployment_id, model_version, start, end)
    scores = feature_drift(baseline, counts, metric)
    sizes = {name: int(vector.sum()) for name, vector in counts.items()}
    return scores, sizes
