"""``session_scope(write=True)`` on SQLite: the write lock from the start; other sessions as before.

A second, raw sqlite3 connection (another process's view of the file) probes
who holds the write lock: its ``BEGIN IMMEDIATE`` fails at once while a write
session is open, and succeeds while a read session is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from airflow_mlops.store import dispose_engines, session_scope


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "store.db"
    with session_scope(f"sqlite:///{path}") as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    yield path
    dispose_engines()


def _other_writer_can_write(path: Path, value: int) -> bool:
    """Whether another connection gets the write lock now (without waiting) and commits ``value``."""
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "database is locked" in str(exc)
        return False
    else:
        other.execute("INSERT INTO t VALUES (?)", (value,))
        other.execute("COMMIT")
        return True
    finally:
        other.close()


def _values(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT x FROM t ORDER BY x")]


def test_a_write_session_holds_the_write_lock_from_its_start_to_its_commit(db: Path) -> None:
    url = f"sqlite:///{db}"
    with session_scope(url, write=True) as session:
        assert not _other_writer_can_write(db, 1)  # before the session ran a single statement
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0
        session.execute(text("INSERT INTO t VALUES (2)"))
        assert not _other_writer_can_write(db, 1)
    assert _values(db) == [2]
    assert _other_writer_can_write(db, 3)


def test_a_write_session_rolls_back_on_error_and_releases_the_lock(db: Path) -> None:
    url = f"sqlite:///{db}"
    with pytest.raises(RuntimeError, match="boom"), session_scope(url, write=True) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("boom")
    assert _values(db) == []
    assert _other_writer_can_write(db, 2)
    assert _values(db) == [2]


def test_a_read_session_does_not_take_the_write_lock(db: Path) -> None:
    url = f"sqlite:///{db}"
    with session_scope(url) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0
        assert _other_writer_can_write(db, 1)  # readers never stand in a writer's way


def test_a_session_not_marked_write_may_still_read_then_write_after_another_commit(db: Path) -> None:
    """The driver's own transaction control is kept for the other sessions.

    A plain deferred BEGIN around the read would pin a WAL snapshot, and the
    later INSERT would fail at once with "database is locked" because another
    writer committed after that snapshot.
    """
    url = f"sqlite:///{db}"
    with session_scope(url) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0
        assert _other_writer_can_write(db, 1)
        session.execute(text("INSERT INTO t VALUES (2)"))
    assert _values(db) == [1, 2]
