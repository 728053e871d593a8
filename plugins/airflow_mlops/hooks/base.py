"""ConnectionHook: what every hook here shares: one named Airflow connection, looked up when first needed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airflow.sdk import Connection


class ConnectionHook(BaseHook):
    """A hook over the Airflow connection ``conn_id``.

    The connection is looked up when first needed, not when the hook is made,
    so building an operator (at DAG parse time) touches no connection.
    """

    conn_name_attr = "conn_id"

    def __init__(self, conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise ValueError(f"conn_id must name an Airflow connection, got {conn_id!r}")
        self.conn_id = conn_id
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        """The Airflow ``Connection`` (looked up once); a missing one raises ``AirflowNotFoundException``."""
        if self._connection is None:
            self._connection = self.get_connection(self.conn_id)
        return self._connection
