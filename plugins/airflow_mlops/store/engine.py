"""Engines and sessions for the MLOps store, and the Alembic upgrade that creates it.

SQLite (the embedded default) is put in WAL mode with a busy timeout, because the
prediction server, monitoring tasks and the CLI open the same file at once.
The same code runs on PostgreSQL when ``MLOPS_STORE_URL`` points there.

Read-then-decide writes (the retraining cool-down, a model replacement) open
``session_scope(url, write=True)``. On PostgreSQL their ``with_for_update``
reads lock the rows. SQLite ignores ``FOR UPDATE``, and the sqlite3 driver
begins a transaction only at the first INSERT/UPDATE/DELETE, so two such
sessions could both read the old state and both write. A write session on
SQLite therefore starts with ``BEGIN IMMEDIATE``: it takes the database's
single write lock before its first read (waiting up to the busy timeout), so
write sessions run one after the other, each seeing the one before. Other
sessions keep the driver's own transaction control: readers never wait for
the write lock, and a session that reads and then writes without
``write=True`` behaves as before (a plain deferred ``BEGIN`` around its reads
would make its later write fail at once with "database is locked" whenever
another writer committed in between, since a WAL snapshot cannot be upgraded).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()

#: Connection execution option set by ``session_scope(write=True)``; read by the SQLite begin hook.
WRITE_OPTION = "mlops_write"


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    """Take the write lock up front in a write session (SQLAlchemy's pysqlite ``begin`` hook).

    The sqlite3 driver's legacy transaction control sees the open transaction and
    emits no BEGIN of its own; it still issues COMMIT and ROLLBACK.
    """
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_connect_args() -> dict[str, Any]:
    args: dict[str, Any] = {"timeout": 30, "check_same_thread": False}
    # Python 3.12+ can switch the driver to PEP 249 transactions (a later Python may make
    # that the default); _on_sqlite_begin relies on the legacy control, so pin it.
    legacy = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", None)
    if legacy is not None:
        args["autocommit"] = legacy
    return args


def _make_sqlite_dir(url: str) -> None:
    """SQLite creates the database file but not its directory; a fresh MLOPS_HOME has none."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def get_engine(url: str) -> Engine:
    """One engine per URL per process, so connection pools are shared."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                _make_sqlite_dir(url)
                engine = create_engine(url, connect_args=_sqlite_connect_args())
                event.listen(engine, "connect", _on_sqlite_connect)
                event.listen(engine, "begin", _on_sqlite_begin)
            else:
                engine = create_engine(url, pool_pre_ping=True)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests and forked workers call this)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(url: str, *, write: bool = False) -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back on any error.

    ``write=True`` is for a session that reads and then decides what to write:
    on SQLite it begins with ``BEGIN IMMEDIATE`` (see the module docstring), so
    no other write session can change what it read before it commits. Use it
    with ``with_for_update`` reads, which do the same on PostgreSQL. Plain
    reads must not use it: it makes them wait for every writer.
    """
    factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    session = factory()
    try:
        if write:
            # Procures the connection and begins the transaction now, with the option set.
            session.connection(execution_options={WRITE_OPTION: True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the store's schema to the newest migration (safe to run again)."""
    _make_sqlite_dir(url)  # Alembic connects with an engine of its own, not get_engine's
    command.upgrade(alembic_config(url), "head")


def is_migrated(url: str) -> bool:
    return "alembic_version" in inspect(get_engine(url)).get_table_names()
