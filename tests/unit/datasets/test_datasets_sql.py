"""SQL sources against real databases: SQLite always, PostgreSQL on 127.0.0.1:5432 when it is running."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers.scratch_postgres import scratch_database

from airflow_mlops.datasets import DataValidationError, SourceError, SqlSource, ingest

START = datetime(2024, 2, 1, tzinfo=UTC)


def _rows(n: int) -> list[tuple[Any, ...]]:
    return [
        (
            f"A{i:05d}",
            i % 37,
            round(10 + (i * 7919 % 1000) / 10, 2),
            ("gold", "silver", "bronze")[i % 3],
            (START + timedelta(minutes=i)).isoformat(),
            (i * 31 % 7) % 2,
        )
        for i in range(n)
    ]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE accounts (id TEXT PRIMARY KEY, visits INTEGER, spend REAL, tier TEXT, seen TEXT, "
            "churned INTEGER)"
        )
        db.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?)", _rows(1000))
    return path


def _ingest(source: Any, snapshots: Path, **kwargs: Any) -> Any:
    return ingest(source, dataset="accounts", target="churned", snapshots_dir=snapshots, **kwargs)


def test_sqlite_query_in_chunks(sqlite_db: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{sqlite_db}"
    query = "SELECT * FROM accounts ORDER BY id"
    chunked = _ingest(query, tmp_path / "a", connection=url, chunk_rows=128)
    whole = _ingest(query, tmp_path / "b", connection=url, chunk_rows=100_000)
    assert chunked.version == whole.version
    pd.testing.assert_frame_equal(chunked.train_frame(), whole.train_frame())
    meta = chunked.meta()
    assert meta["n_rows"] == 1000
    assert meta["source"] == f"{url} query 'SELECT * FROM accounts ORDER BY id'"
    assert meta["source_info"]["query"] == query
    types = {c["name"]: c["type"] for c in meta["columns"]}
    assert types == {
        "id": "text",
        "visits": "numeric",
        "spend": "numeric",
        "tier": "categorical",
        "seen": "datetime",
        "churned": "numeric",
    }
    assert str(chunked.train_frame()["seen"].dt.tz) == "UTC"
    assert meta["split_method"] == "stratified"


def test_sqlite_table_equals_select_star(sqlite_db: Path, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{sqlite_db}")
    try:
        by_table = _ingest(None, tmp_path / "a", connection=engine, table="accounts")
        by_query = _ingest("SELECT * FROM accounts", tmp_path / "b", connection=engine)
    finally:
        engine.dispose()
    assert by_table.version == by_query.version
    assert by_table.meta()["source_info"]["table"] == "accounts"


def test_sqlite_reingest_is_a_noop(
    sqlite_db: Path, tmp_path: Path, snapshot_tree: Callable[..., Any]
) -> None:
    url = f"sqlite:///{sqlite_db}"
    first = _ingest("SELECT * FROM accounts", tmp_path / "s", connection=url, key="id")
    before = snapshot_tree(tmp_path / "s")
    again = _ingest("SELECT * FROM accounts", tmp_path / "s", connection=url, key="id")
    assert again == first
    assert snapshot_tree(tmp_path / "s") == before
    with sqlite3.connect(sqlite_db) as db:
        db.execute("UPDATE accounts SET spend = spend + 1 WHERE id = 'A00007'")
    changed = _ingest("SELECT * FROM accounts", tmp_path / "s", connection=url, key="id")
    assert changed.version != first.version


def test_sqlite_mixed_types_name_the_result_row(sqlite_db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(sqlite_db) as db:  # SQLite stores whatever it is given
        db.execute("UPDATE accounts SET spend = 'unknown' WHERE id IN ('A00040', 'A00900')")
    with pytest.raises(DataValidationError) as caught:
        _ingest("SELECT * FROM accounts ORDER BY id", tmp_path / "s", connection=f"sqlite:///{sqlite_db}")
    message = str(caught.value)
    assert "query 'SELECT * FROM accounts ORDER BY id'" in message
    assert "column 'spend'" in message and "result rows 41, 901" in message and "'unknown'" in message
    assert caught.value.rows == (41, 901)


def test_sql_source_reads_in_chunks_with_row_numbers(sqlite_db: Path) -> None:
    source = SqlSource(f"sqlite:///{sqlite_db}", query="SELECT id FROM accounts ORDER BY id")
    chunks = list(source.chunks(chunk_rows=300))
    assert [c.table.num_rows for c in chunks] == [300, 300, 300, 100]
    assert chunks[1].rows[0] == 301 and chunks[-1].rows[-1] == 1000


def test_unreachable_database_masks_the_password(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        _ingest(
            "SELECT 1", tmp_path / "s", connection="postgresql+psycopg2://reader:s3cret@127.0.0.1:1/nothing"
        )
    message = str(caught.value)
    assert "s3cret" not in message
    assert "postgresql+psycopg2://reader:***@127.0.0.1:1/nothing" in message
    assert "cannot connect" in message


def test_sql_arguments_are_validated(sqlite_db: Path) -> None:
    url = f"sqlite:///{sqlite_db}"
    with pytest.raises(ValueError, match="exactly one of query and table"):
        SqlSource(url, query="SELECT 1", table="accounts")
    with pytest.raises(ValueError, match="exactly one of query and table"):
        SqlSource(url)
    with pytest.raises(ValueError, match="query must be a non-empty SQL statement"):
        SqlSource(url, query="  ")
    with pytest.raises(SourceError, match="not a usable SQLAlchemy URL"):
        SqlSource("nosuchdialect://x", query="SELECT 1")


# --- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of this test's own on the local PostgreSQL server, dropped afterwards."""
    with scratch_database("mlops_ingest") as url:
        yield url


def test_postgres_table_with_native_types(postgres_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE public.accounts (id text PRIMARY KEY, visits integer, spend numeric(10, 2), "
                "tier text, seen timestamptz, active boolean, churned smallint)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO public.accounts SELECT 'A' || lpad(i::text, 5, '0'), i % 37, "
                "(10 + (i * 7919 % 1000) / 10.0)::numeric(10, 2), (ARRAY['gold','silver','bronze'])[i % 3 + 1], "
                "timestamptz '2024-02-01 00:00+00' + i * interval '1 minute', i % 4 = 0, (i * 31 % 7) % 2 "
                "FROM generate_series(0, 2999) AS i"
            )
        )
    engine.dispose()

    snap = ingest(
        None,
        dataset="accounts",
        target="churned",
        snapshots_dir=tmp_path / "s",
        connection=postgres_url,
        table="accounts",
        key="id",
        time_column="seen",
        chunk_rows=250,
    )
    meta = snap.meta()
    assert meta["n_rows"] == 3000
    assert {c["name"]: c["type"] for c in meta["columns"]} == {
        "id": "text",
        "visits": "numeric",
        "spend": "numeric",
        "tier": "categorical",
        "seen": "datetime",
        "active": "boolean",
        "churned": "numeric",
    }
    holdout = snap.holdout_frame()
    assert len(holdout) == 600
    assert holdout["seen"].min() == pd.Timestamp("2024-02-01 00:00", tz="UTC") + pd.Timedelta(minutes=2400)
    assert holdout["spend"].dtype == "float64"
    assert holdout.loc[holdout["id"] == "A02401", "spend"].item() == pytest.approx(
        10 + (2401 * 7919 % 1000) / 10
    )
    assert meta["source"].startswith("postgresql+psycopg2://postgres@127.0.0.1:5432/mlops_ingest_")


def test_postgres_query_streams_in_chunks(postgres_url: str) -> None:
    source = SqlSource(postgres_url, query="SELECT i, i % 2 AS label FROM generate_series(1, 2500) AS i")
    sizes = [chunk.table.num_rows for chunk in source.chunks(chunk_rows=1000)]
    assert sizes == [1000, 1000, 500]


def test_postgres_failing_query_names_the_database_and_the_error(postgres_url: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        ingest(
            "SELEC id FROM accounts",
            dataset="pg",
            target="label",
            snapshots_dir=tmp_path / "s",
            connection=postgres_url,
        )
    message = str(caught.value)
    assert "query 'SELEC id FROM accounts'" in message
    assert 'query failed: syntax error at or near "SELEC"' in message
    assert caught.value.check == "query"
    assert not (tmp_path / "s" / "pg").exists()


def test_postgres_decimal_and_timestamp_values_round_trip(postgres_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (amount numeric(12, 4), at timestamp, y int)"))
        connection.execute(
            sa.text("INSERT INTO t VALUES (:a, :at, :y)"),
            [
                {"a": Decimal("1.2345") * i, "at": datetime(2024, 1, 1) + timedelta(days=i), "y": i % 2}
                for i in range(50)
            ],
        )
    engine.dispose()
    snap = ingest(
        "SELECT * FROM t", dataset="t", target="y", snapshots_dir=tmp_path / "s", connection=postgres_url
    )
    frame = pd.concat([snap.train_frame(), snap.holdout_frame()]).sort_values("amount")
    assert frame["amount"].iloc[10] == pytest.approx(12.345)
    assert frame["at"].iloc[10] == pd.Timestamp("2024-01-11", tz="UTC")  # naive values are taken as UTC
