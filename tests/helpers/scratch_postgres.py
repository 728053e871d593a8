"""A database of a test's own on the machine's PostgreSQL (127.0.0.1:5432), dropped afterwards.

One copy for every test that needs a real PostgreSQL but not a private cluster (that one,
for stopping the server, is :mod:`helpers.private_postgres`). Skips, saying why, only where
no PostgreSQL answers; the engines the test opened are disposed before the drop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HOST, PORT = "127.0.0.1", 5432


@contextmanager
def scratch_database(prefix: str = "mlops_test") -> Iterator[str]:
    """Yields ``postgresql+psycopg2://<user>@127.0.0.1:5432/<prefix>_<random>``; dropped on exit."""
    psycopg2 = pytest.importorskip("psycopg2")
    from airflow_mlops.store import dispose_engines

    admin = None
    errors: list[str] = []
    for user, dbname in (("postgres", "postgres"), ("postgres", "test"), ("root", "root")):
        try:
            admin = psycopg2.connect(host=HOST, port=PORT, user=user, dbname=dbname, connect_timeout=3)
            break
        except psycopg2.OperationalError as exc:
            errors.append(f"{user}@{dbname}: {str(exc).strip()}")
    if admin is None:
        pytest.skip(f"PostgreSQL is not reachable on {HOST}:{PORT}: {errors}")
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{admin.info.user}@{HOST}:{PORT}/{name}"
    finally:
        dispose_engines()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
