"""MlflowTrackingHook: the Airflow connection of an MLflow tracking server, as the values MLflow reads.

MLflow takes its server from a URI and its credentials from the environment
(``MLFLOW_TRACKING_USERNAME``/``PASSWORD``), and the core packages read the URI
through :func:`airflow_mlops.config.get_settings`; this hook only turns a
connection's fields into those values. Three shapes are accepted, so a
connection can name anything ``MLFLOW_TRACKING_URI`` can:

- an MLflow server: host, port and schema (``http``, the default, or ``https``)
  → ``http(s)://host:port``; login and password become MLflow's credentials;
- ``extra.tracking_uri`` outright (``sqlite:////data/mlflow.db``,
  ``databricks``, a URL with a path prefix): used as given;
- a database connection type (``postgres``, ``sqlite``, ...): its SQLAlchemy
  URL, built as :class:`~airflow_mlops.hooks.SqlSourceHook` builds it, since
  MLflow can keep its tracking store in a database directly.

``extra.registry_uri`` names a separate model registry; without it the
registry is the tracking store, as in MLflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_mlops.hooks.base import ConnectionHook
from airflow_mlops.hooks.sql import SQLALCHEMY_DRIVERS, sqlalchemy_url

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: Schemes an MLflow server connection may name in its ``schema`` field.
SERVER_SCHEMES = ("http", "https")


class MlflowTrackingHook(ConnectionHook):
    """The tracking URI, registry URI and credentials of the Airflow connection ``conn_id``.

    Raises ``ValueError`` naming the connection and the field when a value is
    missing or of the wrong kind, so a typo in a connection fails the task
    that reads it instead of sending runs somewhere unexpected.
    """

    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow tracking server"

    def __init__(self, conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)

    def _extra_text(self, key: str) -> str | None:
        value = (self.connection.extra_dejson or {}).get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError(f"connection {self.conn_id!r}: extra.{key} must be a URI as text, got {value!r}")
        return value.strip() or None

    def _is_database(self) -> bool:
        return (self.connection.conn_type or "").lower() in SQLALCHEMY_DRIVERS

    def get_tracking_uri(self) -> str:
        """``extra.tracking_uri``, else the database URL, else ``http(s)://host[:port]``."""
        given = self._extra_text("tracking_uri")
        if given:
            return given
        connection = self.connection
        if self._is_database():
            return sqlalchemy_url(connection, self.conn_id).render_as_string(hide_password=False)
        host = (connection.host or "").strip().rstrip("/")
        if not host:
            raise ValueError(
                f"connection {self.conn_id!r} (type {connection.conn_type!r}) has no host; expected the "
                "MLflow server's host (with port and schema http/https) or extra.tracking_uri"
            )
        if "://" in host:  # a whole URL typed into the host field
            parts = urlsplit(host)
            scheme, netloc, rest, field = parts.scheme.lower(), parts.netloc, parts.path, "host"
        else:
            scheme = (connection.schema or "http").strip().lower()
            netloc, rest, field = host, "", "schema"
        if scheme not in SERVER_SCHEMES:
            raise ValueError(
                f"connection {self.conn_id!r}: {field} names the scheme {scheme!r}, which is not an "
                f"MLflow server's; expected one of {list(SERVER_SCHEMES)} (or set extra.tracking_uri)"
            )
        port = connection.port
        if port and ":" not in netloc:
            netloc = f"{netloc}:{port}"
        return f"{scheme}://{netloc}{rest}"

    def get_registry_uri(self) -> str | None:
        """``extra.registry_uri``; None means the registry is the tracking store."""
        return self._extra_text("registry_uri")

    def get_credentials(self) -> dict[str, str]:
        """The MLflow variables for the connection's login and password (none for a database,
        whose URL already carries them)."""
        if self._is_database() and not self._extra_text("tracking_uri"):
            return {}
        connection = self.connection
        credentials = {}
        if connection.login:
            credentials["MLFLOW_TRACKING_USERNAME"] = connection.login
        if connection.password:
            credentials["MLFLOW_TRACKING_PASSWORD"] = connection.password
        return credentials

    def get_conn(self) -> MlflowClient:
        """An ``MlflowClient`` for the connection's stores.

        MLflow reads credentials from the environment only, so a server that
        needs the connection's login gets it once :func:`apply_connections` ran.
        """
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.get_tracking_uri(), registry_uri=self.get_registry_uri())
