"""Alembic environment for the MLOps store (driven from ``store.engine.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from airflow_mlops.store.tables import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url must be set by airflow_mlops.store.engine.alembic_config"
connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
