"""The Alembic migrations create exactly the tables the code declares, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from airflow_mlops.store import DeploymentRow, get_engine, is_migrated, migrate, session_scope
from airflow_mlops.store.tables import Base


def test_migrated_schema_matches_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert not is_migrated(url)
    migrate(url)
    migrate(url)  # a second run is a no-op, not an error
    assert is_migrated(url)
    with get_engine(url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert {
        "deployments",
        "model_history",
        "baselines",
        "drift_hours",
        "drift_days",
        "service_buckets",
    } <= set(inspect(get_engine(url)).get_table_names())


def _row(created: datetime) -> DeploymentRow:
    return DeploymentRow(
        id="d1",
        label="x",
        registered_model_name="m",
        model_version="1",
        target_name="y",
        target_type="Binary",
        settings={},
        created_at=created,
        updated_at=created,
    )


def test_datetimes_come_back_utc_aware(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate(url)
    created = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(url) as session:
        session.add(_row(created))
    with session_scope(url) as session:
        row = session.get(DeploymentRow, "d1")
        assert row is not None
        assert row.created_at == created
        assert row.created_at.tzinfo == UTC
        assert row.created_at.hour == 10


def test_naive_datetimes_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate(url)
    with pytest.raises(Exception, match="naive datetime"), session_scope(url) as session:
        session.add(_row(datetime(2026, 1, 1)))
    with session_scope(url) as session:  # the failed transaction left nothing behind
        assert session.get(DeploymentRow, "d1") is None
