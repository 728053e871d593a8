"""Windows and buckets as DataRobot defines them (see the package docstring): every read starts here."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BUCKET_SIZES = ("PT1H", "P1D", "P7D", "P1M")


TASK_OF = {"Binary": "binary", "Multiclass": "multiclass", "Regression": "regression"}


#: Most buckets one over-time read may return (a year of hours).
MAX_BUCKETS = 24 * 366


def as_utc(value: datetime | str, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}={value!r} is not an ISO-8601 time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name}={value!r} is not valid; expected a datetime or an ISO-8601 string")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"{name}={value.isoformat()!r} is not valid; expected the top of an hour (UTC)")
    return value


def resolve_window(
    start_time: datetime | str | None, end_time: datetime | str | None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of a read: DataRobot's defaults and checks."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    end = (
        as_utc(end_time, "end_time")
        if end_time is not None
        else moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    )
    start = as_utc(start_time, "start_time") if start_time is not None else end - timedelta(days=7)
    if start >= end:
        raise ValueError(f"start_time {start.isoformat()} must be before end_time {end.isoformat()}")
    return start, end


def _add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:  # 31 January + 1 month: the last day of February
            day -= 1


def bucket_bounds(start: datetime, end: datetime, bucket_size: str) -> list[tuple[datetime, datetime]]:
    """Consecutive ``[lo, hi)`` buckets covering the window."""
    if bucket_size not in BUCKET_SIZES:
        raise ValueError(f"bucket_size={bucket_size!r} is not valid; expected one of {list(BUCKET_SIZES)}")
    step = {"PT1H": timedelta(hours=1), "P1D": timedelta(days=1), "P7D": timedelta(days=7)}.get(bucket_size)
    bounds: list[tuple[datetime, datetime]] = []
    lo = start
    while lo < end:
        hi = lo + step if step is not None else _add_month(lo)
        bounds.append((lo, min(hi, end)))
        lo = hi
        if len(bounds) > MAX_BUCKETS:
            raise ValueError(
                f"{bucket_size} buckets from {start.isoformat()} to {end.isoformat()} are more than "
                f"{MAX_BUCKETS}; use a larger bucket_size or a shorter window"
            )
    return bounds


def bucket_index(bounds: list[tuple[datetime, datetime]], hour: datetime) -> int:
    lo, hi = 0, len(bounds)
    while lo < hi:
        mid = (lo + hi) // 2
        if bounds[mid][1] <= hour:
            lo = mid + 1
        else:
            hi = mid
    return lo


def period_of(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def model_version_of(model_id: str | None) -> str | None:
    """``'<name>/<version>'`` or a bare version to the stored version key."""
    if model_id is None:
        return None
    text = str(model_id)
    return text.rsplit("/", 1)[-1] if text else None


# ---- service stats --------------------------------------------------------------------------------


@dataclass
class OverTime:
    """DataRobot's ``…OverTime``: ``bucket_values`` maps each bucket start to the value (None: no data)."""

    deployment_id: str
    model_id: str | None
    metric: str
    bucket_size: str
    period: dict[str, str]
    buckets: list[dict[str, Any]]
    bucket_values: OrderedDict[datetime, Any] = field(default_factory=OrderedDict)
    extra: dict[str, Any] = field(default_factory=dict)
