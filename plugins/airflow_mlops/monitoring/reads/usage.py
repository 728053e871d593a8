"""DataRobot's ``predictionUsage`` of many deployments at once, from the folded hourly service buckets.

A console opens on a list of deployments and must know, before drawing a chart,
where each deployment's data is: a deployment whose traffic stopped last month
shows empty charts for "the last 7 days". ``lastTimestamp`` is the newest
prediction the monitoring fold has seen (to the minute, from the hour's
per-minute request counts; see :func:`_last_minute`) so the console can anchor its windows there;
``dailyRates`` are the predictions of each of the 7 days before the next top of
the hour (oldest first), DataRobot's "predictions in the last 7 days".
Two grouped queries serve any number of deployments: a list page costs the same
as one deployment. Predictions not yet folded are not seen (the fold runs with
each monitoring pass).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, select

from airflow_mlops.monitoring.reads.window import resolve_window
from airflow_mlops.store import ServiceBucketRow, session_scope

#: Days in ``dailyRates``.
USAGE_DAYS = 7


@dataclass(frozen=True)
class PredictionUsage:
    """The newest folded prediction's time (None: none yet) and the last 7 days' counts, oldest first."""

    last_timestamp: datetime | None = None
    daily_rates: list[int] = field(default_factory=lambda: [0] * USAGE_DAYS)


def _last_minute(per_minute: list[int] | None) -> int:
    """The hour's last minute in which a request started.

    An hour with predictions but no request start in it (a request whose rows'
    event times run into the next hour, or a bucket folded before per-minute
    counts existed) gives its last minute: a window that ends at the next top of
    the hour then still holds it.
    """
    counts = per_minute or []
    for minute in range(len(counts) - 1, -1, -1):
        if counts[minute]:
            return minute
    return 59


def prediction_usage(
    store_url: str, deployment_ids: Iterable[str], *, now: datetime | None = None
) -> dict[str, PredictionUsage]:
    """``predictionUsage`` of each deployment (every id in the answer, unused ones with zeros)."""
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    start, end = resolve_window(None, None, now=now)
    rates: dict[str, list[int]] = {i: [0] * USAGE_DAYS for i in ids}
    newest = (
        select(ServiceBucketRow.deployment_id, func.max(ServiceBucketRow.hour).label("hour"))
        .where(ServiceBucketRow.deployment_id.in_(ids), ServiceBucketRow.predictions > 0)
        .group_by(ServiceBucketRow.deployment_id)
        .subquery()
    )
    last_rows = select(
        ServiceBucketRow.deployment_id, ServiceBucketRow.hour, ServiceBucketRow.per_minute
    ).join(
        newest,
        and_(
            ServiceBucketRow.deployment_id == newest.c.deployment_id,
            ServiceBucketRow.hour == newest.c.hour,
            ServiceBucketRow.predictions > 0,
        ),
    )
    daily = (
        select(ServiceBucketRow.deployment_id, ServiceBucketRow.hour, func.sum(ServiceBucketRow.predictions))
        .where(
            ServiceBucketRow.deployment_id.in_(ids),
            ServiceBucketRow.hour >= start,
            ServiceBucketRow.hour < end,
        )
        .group_by(ServiceBucketRow.deployment_id, ServiceBucketRow.hour)
    )
    last: dict[str, datetime] = {}
    with session_scope(store_url) as session:
        for deployment_id, hour, per_minute in session.execute(last_rows):
            # Several model versions may share the newest hour: keep the latest minute of any.
            moment = hour.astimezone(UTC) + timedelta(minutes=_last_minute(per_minute))
            last[deployment_id] = max(moment, last.get(deployment_id, moment))
        for deployment_id, hour, count in session.execute(daily):
            day = int((hour.astimezone(UTC) - start) // timedelta(days=1))
            rates[deployment_id][min(day, USAGE_DAYS - 1)] += int(count or 0)
    return {i: PredictionUsage(last.get(i), rates[i]) for i in ids}
