"""SqlSourceHook: an Airflow connection's fields become a SQLAlchemy URL; its engine is disposed after use."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from airflow_mlops.hooks import SqlSourceHook


def _hook(monkeypatch: pytest.MonkeyPatch, **fields: object) -> SqlSourceHook:
    monkeypatch.setenv("AIRFLOW_CONN_C", json.dumps(fields))
    return SqlSourceHook("c")


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        (
            {
                "conn_type": "postgres",
                "host": "db",
                "login": "u",
                "password": "p@ss",
                "port": 5433,
                "schema": "w",
            },
            "postgresql+psycopg2://u:p%40ss@db:5433/w",
        ),
        ({"conn_type": "sqlite", "host": "/data/w.db"}, "sqlite:////data/w.db"),
        ({"conn_type": "sqlite", "schema": "/data/w.db"}, "sqlite:////data/w.db"),
        ({"conn_type": "generic", "extra": {"sqlalchemy_url": "duckdb:///x.db"}}, "duckdb:///x.db"),
        (
            {
                "conn_type": "generic",
                "host": "h",
                "schema": "d",
                "extra": {"sqlalchemy_driver": "mysql+pymysql"},
            },
            "mysql+pymysql://h/d",
        ),
    ],
)
def test_connection_fields_become_a_sqlalchemy_url(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, object], url: str
) -> None:
    assert _hook(monkeypatch, **fields).get_sqlalchemy_url().render_as_string(hide_password=False) == url


def test_unknown_connection_type_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"connection 'c' has type 'http'.*expected one of \['mssql'"):
        _hook(monkeypatch, conn_type="http", host="x").get_sqlalchemy_url()


def test_an_empty_connection_id_is_refused() -> None:
    with pytest.raises(ValueError, match=r"conn_id must name an Airflow connection, got ''"):
        SqlSourceHook("")


def test_the_scoped_engine_reads_the_connection_and_is_disposed_even_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (41)")
    hook = _hook(monkeypatch, conn_type="sqlite", host=str(db))
    disposed: list[Engine] = []
    record = disposed.append  # one bound method, so the same listener is removed
    event.listen(Engine, "engine_disposed", record)
    try:
        with hook.scoped_engine() as engine:
            with engine.connect() as connection:
                assert connection.exec_driver_sql("SELECT x + 1 FROM t").scalar() == 42
            assert engine.pool.checkedin() == 1, "the pool keeps the connection until disposed"
        assert disposed == [engine] and engine.pool.checkedin() == 0

        with (
            pytest.raises(RuntimeError, match="task failed"),
            hook.scoped_engine() as failing,
            failing.connect(),
        ):
            raise RuntimeError("task failed")
        assert disposed == [engine, failing] and failing.pool.checkedin() == 0
    finally:
        event.remove(Engine, "engine_disposed", record)
