"""Which database errors mean "the store is unreachable": real errors from real servers.

Connection failures (nothing listening, a server shutting down, a connection it closed)
count; an integrity error, a cancelled statement or a locked SQLite file do not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.live_server import free_port
from helpers.scratch_postgres import scratch_database
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from airflow_mlops.store.availability import describe_store, store_unreachable, unreachable_message


def _error(url: str, statement: str, **engine_args: object) -> DBAPIError:
    engine = create_engine(url, **engine_args)  # type: ignore[arg-type]
    try:
        with engine.begin() as conn:
            for part in statement.split(";"):
                conn.execute(text(part))
    except DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{statement!r} did not fail")


@pytest.fixture
def machine_pg() -> Iterator[str]:
    with scratch_database() as url:
        yield url


def test_nothing_listening_is_unreachable_and_the_message_names_the_store() -> None:
    port = free_port()
    url = f"postgresql+psycopg2://postgres:s3cret@127.0.0.1:{port}/mlops"
    exc = _error(url, "SELECT 1")
    assert store_unreachable(exc)
    message = unreachable_message(url, exc)
    assert f"PostgreSQL at 127.0.0.1:{port}/mlops" in message
    assert "unreachable" in message and "Connection refused" in message and "retry" in message
    assert "s3cret" not in message and "postgres@" not in message
    assert "[SQL" not in message  # the driver's reason, not SQLAlchemy's statement dump


def test_a_session_the_server_ended_is_unreachable(machine_pg: str) -> None:
    exc = _error(machine_pg, "SELECT pg_terminate_backend(pg_backend_pid()); SELECT 1")
    assert store_unreachable(exc), exc


def test_integrity_and_cancelled_statements_are_not_outages(machine_pg: str) -> None:
    duplicate = _error(machine_pg, "CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1), (1)")
    assert not store_unreachable(duplicate)
    cancelled = _error(machine_pg, "SET statement_timeout = 10; SELECT pg_sleep(1)")
    assert type(cancelled.orig).__name__ == "QueryCanceled"
    assert not store_unreachable(cancelled)


def test_sqlite_errors_are_not_outages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert not store_unreachable(_error(url, "SELECT * FROM missing"))
    holder = sqlite3.connect(tmp_path / "store.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        locked = _error(url, "CREATE TABLE t (id int)", connect_args={"timeout": 0})
    finally:
        holder.rollback()
        holder.close()
    assert "locked" in str(locked.orig)
    assert not store_unreachable(locked)


def test_describe_store_never_shows_credentials() -> None:
    assert (
        describe_store("postgresql+psycopg2://u:pw@db.example:6543/mlops")
        == "PostgreSQL at db.example:6543/mlops"
    )
    assert describe_store("postgresql://u@/mlops") == "PostgreSQL at localhost/mlops"
    assert describe_store("sqlite:////tmp/x/mlops.db") == "SQLite file /tmp/x/mlops.db"
    assert describe_store("not a url") == "the MLOps store"
    assert not store_unreachable(ValueError("connection refused"))
