"""drift counts: one packed row per hour (drift_hours) plus daily rollups (drift_days)

Moves every ``drift_buckets`` row (one per hour and feature, counts as JSON) into
``drift_hours`` (one row per deployment, model version and hour, all features
packed in one blob) and sums each UTC day into ``drift_days``; then drops
``drift_buckets``. The downgrade unpacks ``drift_hours`` back into per-feature rows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

from airflow_mlops.store.drift_counts import add_into, pack, unpack

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Packed rows inserted per statement while moving data.
_CHUNK = 500

_old = sa.table(
    "drift_buckets",
    sa.column("deployment_id", sa.String()),
    sa.column("model_version", sa.String()),
    sa.column("hour", sa.DateTime(timezone=True)),
    sa.column("feature", sa.String()),
    sa.column("counts", sa.JSON()),
)


def _packed_table(name: str, time_column: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("deployment_id", sa.String()),
        sa.column("model_version", sa.String()),
        sa.column(time_column, sa.DateTime(timezone=True)),
        sa.column("layout", sa.Text()),
        sa.column("width", sa.Integer()),
        sa.column("counts", sa.LargeBinary()),
    )


_hours = _packed_table("drift_hours", "hour")
_days = _packed_table("drift_days", "day")


def _create(name: str, time_column: str) -> None:
    op.create_table(
        name,
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column(time_column, sa.DateTime(timezone=True), nullable=False),
        sa.Column("layout", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "model_version", time_column),
    )


def _utc(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite gives them back naive, PostgreSQL in the session's zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _hourly(conn: sa.Connection) -> Iterator[tuple[str, str, datetime, dict[str, np.ndarray]]]:
    """The old rows grouped per (deployment, version, hour), streamed in key order."""
    # Per statement: Connection.execution_options() would make every later statement stream too.
    rows = conn.execute(
        sa.select(
            _old.c.deployment_id, _old.c.model_version, _old.c.hour, _old.c.feature, _old.c.counts
        ).order_by(_old.c.deployment_id, _old.c.model_version, _old.c.hour, _old.c.feature),
        execution_options={"stream_results": True, "yield_per": 5000},
    )
    key: tuple[str, str, datetime] | None = None
    vectors: dict[str, np.ndarray] = {}
    for deployment_id, version, hour, feature, counts in rows:
        this = (deployment_id, version, _utc(hour))
        if this != key:
            if key is not None:
                yield (*key, vectors)
            key, vectors = this, {}
        vectors[feature] = np.asarray(counts, dtype=np.int64)
    if key is not None:
        yield (*key, vectors)


def _row(
    deployment_id: str, version: str, column: str, moment: datetime, vectors: dict[str, Any]
) -> dict[str, Any]:
    layout, width, blob = pack(vectors)
    return {
        "deployment_id": deployment_id,
        "model_version": version,
        column: moment,
        "layout": layout,
        "width": width,
        "counts": blob,
    }


def upgrade() -> None:
    _create("drift_hours", "hour")
    _create("drift_days", "day")
    conn = op.get_bind()
    # Streamed: memory holds one hour's and one day's vectors plus a chunk of packed rows.
    hours: list[dict[str, Any]] = []
    days: list[dict[str, Any]] = []
    day_key: tuple[str, str, datetime] | None = None
    day_sum: dict[str, np.ndarray] = {}
    for deployment_id, version, hour, vectors in _hourly(conn):
        hours.append(_row(deployment_id, version, "hour", hour, vectors))
        this_day = (deployment_id, version, hour.replace(hour=0))
        if this_day != day_key:
            if day_key is not None:
                days.append(_row(*day_key[:2], "day", day_key[2], day_sum))
            day_key, day_sum = this_day, {}
        add_into(day_sum, vectors)
        if len(hours) >= _CHUNK:
            conn.execute(sa.insert(_hours), hours)
            hours = []
        if len(days) >= _CHUNK:
            conn.execute(sa.insert(_days), days)
            days = []
    if day_key is not None:
        days.append(_row(*day_key[:2], "day", day_key[2], day_sum))
    if hours:
        conn.execute(sa.insert(_hours), hours)
    if days:
        conn.execute(sa.insert(_days), days)
    op.drop_table("drift_buckets")


def downgrade() -> None:
    op.create_table(
        "drift_buckets",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feature", sa.String(length=256), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "model_version", "hour", "feature"),
    )
    conn = op.get_bind()
    packed = conn.execute(
        sa.select(
            _hours.c.deployment_id,
            _hours.c.model_version,
            _hours.c.hour,
            _hours.c.layout,
            _hours.c.width,
            _hours.c.counts,
        )
    ).all()
    rows: list[dict[str, Any]] = []
    for deployment_id, version, hour, layout, width, blob in packed:
        for feature, vector in unpack(layout, width, blob).items():
            rows.append(
                {
                    "deployment_id": deployment_id,
                    "model_version": version,
                    "hour": _utc(hour),
                    "feature": feature,
                    "counts": [int(c) for c in vector],
                }
            )
        if len(rows) >= _CHUNK:
            conn.execute(sa.insert(_old), rows)
            rows = []
    if rows:
        conn.execute(sa.insert(_old), rows)
    op.drop_table("drift_days")
    op.drop_table("drift_hours")
