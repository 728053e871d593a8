"""Hourly drift buckets and their daily rollups: how the fold adds counts, and how a window sums them.

Each (deployment, model version, hour) is one ``drift_hours`` row holding every
feature's bin counts packed in one blob (:mod:`airflow_mlops.store.drift_counts`),
and each UTC day one ``drift_days`` row holding the sum of its hours. The fold
adds a commit group's counts to both levels in the transaction that marks its
files folded, so the two never disagree and a late file (an hour long past)
updates its hour and its day together.

A window ``[start, end)`` is read as whole UTC days from ``drift_days`` plus the
edge hours before the first and after the last whole day from ``drift_hours``:
at most 46 hourly rows plus one row per day, so a 90-day query reads ~100 rows
instead of 2 160 hours x 50 features. Reads over time split at their bucket
boundaries: a day cut by a boundary is read hour by hour.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from airflow_mlops.store import DriftDayRow, DriftHourRow, get_engine
from airflow_mlops.store.drift_counts import add_into, flat_counts, pack, parse_layout, unpack

DAY = timedelta(days=1)
#: Bucket keys per ``IN (...)`` when the fold loads the buckets it adds to.
_KEYS_PER_QUERY = 200

Vectors = Mapping[str, NDArray[np.int64]]
Range = tuple[datetime, datetime]


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r} given for a drift window; pass a timezone-aware one")
    return moment.astimezone(UTC)


def day_of(moment: datetime) -> datetime:
    """The UTC day (midnight, UTC) a moment belongs to, whatever zone it is given in."""
    return _utc(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def _next_day(moment: datetime) -> datetime:
    day = day_of(moment)
    return day if day == moment else day + DAY


# ---- writing (the fold) --------------------------------------------------------------------------


def add_drift(session: Session, deployment_id: str, drift: Mapping[tuple[str, datetime], Vectors]) -> None:
    """Add per (model version, UTC hour) count vectors to their hour rows and to their day rows.

    Runs inside the caller's transaction (the fold's write session, with the files'
    folded marks). The rows added to are read ``FOR UPDATE`` so that two folds on
    PostgreSQL cannot lose each other's counts; SQLite ignores it, and the fold's
    session holds the write lock from its start instead (``session_scope(write=True)``).
    """
    if not drift:
        return
    days: dict[tuple[str, datetime], dict[str, NDArray[np.int64]]] = {}
    drift = {(version, _utc(hour)): vectors for (version, hour), vectors in drift.items()}
    for (version, hour), vectors in drift.items():
        add_into(days.setdefault((version, day_of(hour)), {}), vectors)
    with session.no_autoflush:
        _merge(session, DriftHourRow, DriftHourRow.hour, "hour", deployment_id, drift)
        _merge(session, DriftDayRow, DriftDayRow.day, "day", deployment_id, days)


def _merge(
    session: Session,
    table: type[DriftHourRow] | type[DriftDayRow],
    column: InstrumentedAttribute[datetime],
    name: str,
    deployment_id: str,
    deltas: Mapping[tuple[str, datetime], Vectors],
) -> None:
    """Existing rows of these keys loaded at once, then one bulk INSERT and one bulk UPDATE."""
    versions = sorted({v for v, _t in deltas})
    moments = sorted({t for _v, t in deltas})
    existing: dict[tuple[str, datetime], dict[str, NDArray[np.int64]]] = {}
    for start in range(0, len(moments), _KEYS_PER_QUERY):
        query = (
            select(table.model_version, column, table.layout, table.width, table.counts)
            .where(
                table.deployment_id == deployment_id,
                table.model_version.in_(versions),
                column.in_(moments[start : start + _KEYS_PER_QUERY]),
            )
            .with_for_update()
        )
        for version, moment, layout, width, blob in session.execute(query):
            existing[(version, moment)] = unpack(layout, width, blob)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (version, moment), vectors in deltas.items():
        current = existing.get((version, moment))
        layout, width, blob = pack(vectors if current is None else add_into(current, vectors))
        row = {
            "deployment_id": deployment_id,
            "model_version": version,
            name: moment,
            "layout": layout,
            "width": width,
            "counts": blob,
        }
        (inserts if current is None else updates).append(row)
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        session.execute(update(table), updates)


# ---- reading (windows) ---------------------------------------------------------------------------


def cover(start: datetime, end: datetime, cuts: Iterable[datetime] = ()) -> tuple[list[Range], list[Range]]:
    """``(day ranges, hour ranges)`` that together cover ``[start, end)`` exactly once.

    Day ranges hold whole UTC days with no cut strictly inside (a cut is a bucket
    boundary of an over-time read); everything else is read hour by hour.
    """
    start, end = _utc(start), _utc(end)  # days are UTC days, whatever zone the window is given in
    inner = sorted(u for u in (_utc(c) for c in cuts) if start < u < end)
    days: list[Range] = []
    day, last = _next_day(start), day_of(end)
    while day < last:
        following = day + DAY
        i = bisect_right(inner, day)
        if not (i < len(inner) and inner[i] < following):  # no cut inside (day, following)
            if days and days[-1][1] == day:
                days[-1] = (days[-1][0], following)
            else:
                days.append((day, following))
        day = following
    hours: list[Range] = []
    position = start
    for lo, hi in days:
        if position < lo:
            hours.append((position, lo))
        position = hi
    if position < end:
        hours.append((position, end))
    return days, hours


def _rows(
    conn: Connection, deployment_id: str, version: str, days: Sequence[Range], hours: Sequence[Range]
) -> list[Any]:
    """``(start of the row's hour or day, layout, width, blob)`` of the rows covering the ranges."""
    out: list[Any] = []
    for table, column, ranges in (
        (DriftDayRow, DriftDayRow.day, days),
        (DriftHourRow, DriftHourRow.hour, hours),
    ):
        if not ranges:
            continue
        within = or_(*(and_(column >= lo, column < hi) for lo, hi in ranges))
        out.extend(
            conn.execute(
                select(column, table.layout, table.width, table.counts).where(
                    table.deployment_id == deployment_id, table.model_version == version, within
                )
            ).all()
        )
    return out


def window_sums(
    store_url: str,
    deployment_id: str,
    version: str,
    start: datetime,
    end: datetime,
    features: Iterable[str] | None = None,
) -> dict[str, NDArray[np.int64]]:
    """Per feature, the counts of every hour with ``start <= hour < end``, summed (absent: no rows)."""
    days, hours = cover(start, end)
    # A plain connection, not an ORM session: a third of the read's time was the session's.
    with get_engine(store_url).connect() as conn:
        rows = _rows(conn, deployment_id, version, days, hours)
    # Rows of one layout (the usual case: one model version's baseline) are summed as whole
    # blobs, one numpy add each; only then split into features.
    totals: dict[str, NDArray[np.int64]] = {}
    for _moment, layout, width, blob in rows:
        flat = flat_counts(width, blob)
        total = totals.get(layout)
        if total is None:
            totals[layout] = flat.astype(np.int64)
        else:
            total += flat
    wanted = None if features is None else set(features)
    out: dict[str, NDArray[np.int64]] = {}
    for layout, total in totals.items():
        parsed = parse_layout(layout)
        if parsed.size != len(total):
            raise ValueError(
                f"a drift bucket's blob holds {len(total)} counts but its layout names {parsed.size}"
            )
        for name, part in parsed.slices().items():
            if wanted is not None and name not in wanted:
                continue
            current = out.get(name)
            out[name] = total[part].copy() if current is None else current + total[part]
    return out


def feature_rows(
    store_url: str,
    deployment_id: str,
    version: str,
    start: datetime,
    end: datetime,
    feature: str,
    cuts: Iterable[datetime] = (),
) -> list[tuple[datetime, NDArray[np.int64]]]:
    """``(row start, counts)`` of one feature over ``[start, end)``; no row straddles a cut."""
    days, hours = cover(start, end, cuts)
    with get_engine(store_url).connect() as conn:
        rows = _rows(conn, deployment_id, version, days, hours)
    out: list[tuple[datetime, NDArray[np.int64]]] = []
    for moment, layout, width, blob in rows:
        part = parse_layout(layout).slices().get(feature)
        if part is not None:
            out.append((moment, flat_counts(width, blob)[part].astype(np.int64)))
    return out
