"""SqlSourceHook: an Airflow connection id becomes a SQLAlchemy URL and engine.

The core packages read SQL through a SQLAlchemy URL or ``Engine`` and never
import Airflow (:class:`airflow_mlops.datasets.sql.SqlSource`,
:func:`airflow_mlops.serving.batch.batch_score`); turning a connection into
one is a hook's job, as in Airflow's own providers. The connection's own hook
(``DbApiHook.get_sqlalchemy_engine``) is preferred, so provider-specific
settings apply; when the provider for the connection type is not installed,
the URL is built from the connection's fields (``extra`` may give
``sqlalchemy_url`` outright, or ``sqlalchemy_driver``).

An engine keeps a pool of open database connections until it is disposed, so
operators take theirs from :meth:`SqlSourceHook.scoped_engine`, which disposes
it when the task's work ends, whether it succeeded or failed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from airflow_mlops.hooks.base import ConnectionHook

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from sqlalchemy.engine import URL, Engine

#: Airflow connection types and the SQLAlchemy driver used when no provider hook gives an engine.
SQLALCHEMY_DRIVERS: dict[str, str] = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "sqlite": "sqlite",
    "mysql": "mysql+mysqldb",
    "mssql": "mssql+pymssql",
    "oracle": "oracle+oracledb",
}


def sqlalchemy_url(
    connection: Connection, conn_id: str, drivers: Mapping[str, str] = SQLALCHEMY_DRIVERS
) -> URL:
    """The SQLAlchemy URL of a connection's fields (see :meth:`SqlSourceHook.get_sqlalchemy_url`).

    A function, not only a method, so the other hooks whose connections may
    name a database (the MLflow tracking store) build URLs the same way.
    """
    import sqlalchemy as sa

    extra = connection.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return sa.engine.make_url(str(extra["sqlalchemy_url"]))
    conn_type = (connection.conn_type or "").lower()
    driver = extra.get("sqlalchemy_driver") or drivers.get(conn_type)
    if driver is None:
        raise ValueError(
            f"connection {conn_id!r} has type {conn_type!r}, which has no SQLAlchemy driver here; "
            f"expected one of {sorted(drivers)}, or a 'sqlalchemy_url' in the connection's extra"
        )
    if driver == "sqlite":
        return sa.engine.URL.create("sqlite", database=connection.host or connection.schema or None)
    return sa.engine.URL.create(
        driver,
        username=connection.login or None,
        password=connection.password or None,
        host=connection.host or None,
        port=connection.port or None,
        database=connection.schema or None,
    )


class SqlSourceHook(ConnectionHook):
    """SQLAlchemy URL and engine of the Airflow connection ``conn_id`` (looked up when first needed)."""

    hook_name = "SQL source (SQLAlchemy)"
    #: The connection types this hook knows without ``extra.sqlalchemy_driver``, and their drivers.
    drivers: Mapping[str, str] = SQLALCHEMY_DRIVERS

    def get_sqlalchemy_url(self) -> URL:
        """The SQLAlchemy URL of the connection's fields.

        ``extra.sqlalchemy_url`` wins; otherwise the driver is
        ``extra.sqlalchemy_driver`` or the connection type's in
        :data:`SQLALCHEMY_DRIVERS`. Raises ``ValueError`` naming the connection
        and its type, and listing the known types, when there is neither.
        """
        return sqlalchemy_url(self.connection, self.conn_id, self.drivers)

    def get_engine(self) -> Engine:
        """A new engine for the connection; the caller owns it and must ``dispose()`` it.

        The connection's provider hook builds it when that provider is
        installed, else :meth:`get_sqlalchemy_url` does.
        """
        import sqlalchemy as sa

        try:
            provider_hook = self.connection.get_hook()
        except Exception:  # the provider of this connection type is not installed
            provider_hook = None
        if provider_hook is not None and hasattr(provider_hook, "get_sqlalchemy_engine"):
            engine: Engine = provider_hook.get_sqlalchemy_engine()
            return engine
        return sa.create_engine(self.get_sqlalchemy_url())

    def get_conn(self) -> Engine:
        """Airflow's generic hook entry point: the same as :meth:`get_engine`."""
        return self.get_engine()

    @contextmanager
    def scoped_engine(self) -> Iterator[Engine]:
        """An engine disposed when the block ends, success or failure: no pooled connection outlives it."""
        engine = self.get_engine()
        try:
            yield engine
        finally:
            engine.dispose()
