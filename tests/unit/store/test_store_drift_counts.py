"""Packed drift counts, and the migration that moved per-feature JSON rows into them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from helpers.scratch_postgres import scratch_database

from airflow_mlops.store import dispose_engines, get_engine
from airflow_mlops.store.drift_counts import add_into, pack, parse_layout, unpack, width_for
from airflow_mlops.store.engine import alembic_config

# --- the codec -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("largest", "width"), [(0, 2), (65_535, 2), (65_536, 4), (2**32 - 1, 4), (2**32, 8)])
def test_counts_round_trip_at_the_narrowest_width(largest: int, width: int) -> None:
    vectors = {"a": np.array([0, largest, 3], dtype=np.int64), "b": np.array([7], dtype=np.int64)}
    layout, got_width, blob = pack(vectors)
    assert got_width == width == width_for(largest)
    assert len(blob) == 4 * width
    back = unpack(layout, got_width, blob)
    assert list(back) == ["a", "b"]
    assert {k: v.tolist() for k, v in back.items()} == {k: v.tolist() for k, v in vectors.items()}
    assert all(v.dtype == np.int64 for v in back.values())


def test_negative_counts_and_mismatched_blobs_are_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        pack({"a": np.array([1, -1])})
    layout, width, blob = pack({"a": np.array([1, 2, 3])})
    with pytest.raises(ValueError, match="holds 2 counts but its layout names 3"):
        unpack(layout, width, blob[: 2 * width])
    with pytest.raises(ValueError, match="width 3"):
        unpack(layout, 3, blob)


def test_add_into_sums_and_appends_and_refuses_other_bins() -> None:
    total = {"a": np.array([1, 2])}
    add_into(total, {"a": np.array([10, 20]), "b": np.array([5])})
    assert {k: v.tolist() for k, v in total.items()} == {"a": [11, 22], "b": [5]}
    with pytest.raises(ValueError, match="feature 'a' has 3 bins but its stored bucket has 2"):
        add_into(total, {"a": np.array([1, 1, 1])})
    assert parse_layout('[["a",2],["b",1]]').slices() == {"a": slice(0, 2), "b": slice(2, 3)}


# --- the migration ---------------------------------------------------------------------------------

H = datetime(2024, 3, 1, 22, tzinfo=UTC)
OLD = sa.table(
    "drift_buckets",
    sa.column("deployment_id", sa.String()),
    sa.column("model_version", sa.String()),
    sa.column("hour", sa.DateTime(timezone=True)),
    sa.column("feature", sa.String()),
    sa.column("counts", sa.JSON()),
)


def _old_rows() -> list[dict[str, object]]:
    """Two deployments, two versions, hours on both sides of midnight, one big count."""
    rows: list[dict[str, object]] = []
    for dep, version, k in [
        ("d1", "1", 0),
        ("d1", "1", 1),
        ("d1", "1", 2),
        ("d1", "1", 5),
        ("d1", "2", 1),
        ("d2", "1", 0),
    ]:
        hour = H + timedelta(hours=k)
        rows.append(
            {
                "deployment_id": dep,
                "model_version": version,
                "hour": hour,
                "feature": "x",
                "counts": [k, 1, 2],
            }
        )
        rows.append(
            {
                "deployment_id": dep,
                "model_version": version,
                "hour": hour,
                "feature": "y",
                "counts": [70_000 * k, 3],
            }
        )
    return rows


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        dispose_engines()
    else:
        with scratch_database("mlops_migrate") as url:
            yield url


def _packed(url: str, table: str, column: str) -> dict[tuple[str, str, datetime], dict[str, list[int]]]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT deployment_id, model_version, {column}, layout, width, counts FROM {table}")
        )
        out = {}
        for dep, version, moment, layout, width, blob in rows:
            moment = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
            out[(dep, version, moment)] = {
                k: v.tolist() for k, v in unpack(layout, width, bytes(blob)).items()
            }
        return out


def test_migration_packs_old_rows_per_hour_and_sums_each_day(empty_url: str) -> None:
    cfg = alembic_config(empty_url)
    command.upgrade(cfg, "0007")
    old = _old_rows()
    with get_engine(empty_url).begin() as conn:
        conn.execute(sa.insert(OLD), old)

    command.upgrade(cfg, "head")

    hours = _packed(empty_url, "drift_hours", "hour")
    expected_hours: dict[tuple[str, str, datetime], dict[str, list[int]]] = {}
    for row in old:
        key = (str(row["deployment_id"]), str(row["model_version"]), row["hour"])
        expected_hours.setdefault(key, {})[str(row["feature"])] = list(row["counts"])  # type: ignore[call-overload]
    assert hours == expected_hours
    days = _packed(empty_url, "drift_days", "day")
    first, second = H.replace(hour=0), H.replace(hour=0) + timedelta(days=1)
    assert days == {
        ("d1", "1", first): {"x": [0 + 1, 2, 4], "y": [70_000, 6]},  # 22:00 and 23:00
        ("d1", "1", second): {"x": [2 + 5, 2, 4], "y": [70_000 * 7, 6]},  # 00:00 and 03:00
        ("d1", "2", first): {"x": [1, 1, 2], "y": [70_000, 3]},
        ("d2", "1", first): {"x": [0, 1, 2], "y": [0, 3]},
    }
    assert "drift_buckets" not in sa.inspect(get_engine(empty_url)).get_table_names()

    command.downgrade(cfg, "0007")
    with get_engine(empty_url).connect() as conn:
        back = conn.execute(sa.select(OLD)).mappings().all()
    as_set = {
        (
            r["deployment_id"],
            r["model_version"],
            r["hour"].replace(tzinfo=UTC) if r["hour"].tzinfo is None else r["hour"],
            r["feature"],
            tuple(r["counts"]),
        )
        for r in back
    }
    assert as_set == {
        (r["deployment_id"], r["model_version"], r["hour"], r["feature"], tuple(r["counts"]))  # type: ignore[arg-type]
        for r in old
    }
