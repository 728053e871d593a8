"""MlopsStoreHook: the Airflow connection of the MLOps store, as the SQLAlchemy URL the store takes.

The store (:mod:`airflow_mlops.store`) builds its own engines from a URL (SQLite
in WAL mode, PostgreSQL pools), so this hook hands over the URL, not an
engine. The URL is built exactly as for a SQL source
(:class:`~airflow_mlops.hooks.SqlSourceHook`): ``extra.sqlalchemy_url``
outright, else the connection type's driver (``postgres``, ``sqlite``, ...) or
``extra.sqlalchemy_driver``. Its own connection type ``mlops_store`` (the one
the Connections form offers) means PostgreSQL unless ``extra.sqlalchemy_driver``
says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_mlops.hooks.sql import SQLALCHEMY_DRIVERS, SqlSourceHook


class MlopsStoreHook(SqlSourceHook):
    """The MLOps store's URL from the Airflow connection ``conn_id``."""

    default_conn_name = "mlops_store_default"
    conn_type = "mlops_store"
    hook_name = "MLOps store (SQLAlchemy)"
    drivers: Mapping[str, str] = {**SQLALCHEMY_DRIVERS, "mlops_store": "postgresql+psycopg2"}

    def __init__(self, conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)

    def get_store_url(self) -> str:
        """The URL as text, password included (the store's engines need it).

        A SQLite connection without a file is refused: ``sqlite://`` is an
        in-memory database, and a store there would vanish with the task.
        """
        url = self.get_sqlalchemy_url()
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError(
                f"connection {self.conn_id!r} is a SQLite store without a database file; "
                "expected the file's path in host (or schema), or extra.sqlalchemy_url"
            )
        return url.render_as_string(hide_password=False)
