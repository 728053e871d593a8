"""Service stats of a window, or over time, summed from hourly service buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from airflow_mlops.enums import SERVICE_STAT_METRIC, parse_enum
from airflow_mlops.monitoring.reads.window import (
    OverTime,
    bucket_bounds,
    bucket_index,
    model_version_of,
    period_of,
    resolve_window,
)
from airflow_mlops.monitoring.service import service_stats_from_states
from airflow_mlops.store import (
    ServiceBucketRow,
    session_scope,
)


@dataclass
class ServiceStats:
    """DataRobot's ``ServiceStats``: ``metrics`` maps each SERVICE_STAT_METRIC to its value."""

    deployment_id: str
    model_id: str | None
    period: dict[str, str]
    metrics: dict[str, Any]

    def __getitem__(self, metric: str) -> Any:
        return self.metrics[parse_enum(SERVICE_STAT_METRIC, metric, field="metric").value]


def _service_rows(
    store_url: str, deployment_id: str, version: str | None, start: datetime, end: datetime
) -> list[ServiceBucketRow]:
    query = select(ServiceBucketRow).where(
        ServiceBucketRow.deployment_id == deployment_id,
        ServiceBucketRow.hour >= start,
        ServiceBucketRow.hour < end,
    )
    if version is not None:
        query = query.where(ServiceBucketRow.model_version == version)
    with session_scope(store_url) as session:
        rows = list(session.scalars(query.order_by(ServiceBucketRow.hour)))
        session.expunge_all()
    return rows


def get_service_stats(
    deployment_id: str,
    *,
    store_url: str,
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    execution_time_quantile: float = 0.5,
    response_time_quantile: float = 0.5,
) -> ServiceStats:
    start, end = resolve_window(start_time, end_time)
    rows = _service_rows(store_url, deployment_id, model_version_of(model_id), start, end)
    metrics = service_stats_from_states(rows, quantile=response_time_quantile)
    if execution_time_quantile != response_time_quantile:
        other = service_stats_from_states(rows, quantile=execution_time_quantile)
        metrics[SERVICE_STAT_METRIC.EXECUTION_TIME.value] = other[SERVICE_STAT_METRIC.EXECUTION_TIME.value]
    return ServiceStats(deployment_id, model_id, period_of(start, end), metrics)


def get_service_stats_over_time(
    deployment_id: str,
    *,
    store_url: str,
    metric: str = "totalPredictions",
    bucket_size: str = "PT1H",
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    quantile: float = 0.5,
) -> OverTime:
    name = parse_enum(SERVICE_STAT_METRIC, metric, field="metric").value
    start, end = resolve_window(start_time, end_time)
    bounds = bucket_bounds(start, end, bucket_size)
    grouped: list[list[ServiceBucketRow]] = [[] for _ in bounds]
    for row in _service_rows(store_url, deployment_id, model_version_of(model_id), start, end):
        grouped[bucket_index(bounds, row.hour)].append(row)
    result = OverTime(deployment_id, model_id, name, bucket_size, period_of(start, end), [])
    for (lo, hi), rows in zip(bounds, grouped, strict=True):
        value = service_stats_from_states(rows, quantile=quantile)[name] if rows else None
        result.buckets.append({"period": period_of(lo, hi), "value": value})
        result.bucket_values[lo] = value
    return result


# ---- drift ------------------------------------------------------------------------------------------
