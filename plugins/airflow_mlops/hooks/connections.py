"""apply_connections: the MLflow server and the MLOps store given as Airflow connections, for one task.

The core packages find MLflow and the store through
:func:`airflow_mlops.config.get_settings`, which reads environment variables,
and they never import Airflow. So a task honours connections by exporting
their values as those variables in its own process before it does any work;
every ``get_settings()`` below then sees them. Every operator here calls
:func:`apply_connections` first thing in ``execute`` (and the DAGs' own
``@task`` functions and callbacks that touch the store do too).

Each variable is resolved on its own: a non-empty environment variable wins
(an explicit deployment setting, as before connections existed); else the
connection's value is exported; else ``get_settings``' default stays. The
MLflow connection is not read at all when ``MLFLOW_TRACKING_URI`` is in the
environment, so its login, password and registry are never sent to a
different server named there. A missing connection is no error (defaults
apply); a connection that is there but unusable is, naming the connection
and the field.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol

from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_mlops.hooks.base import ConnectionHook
from airflow_mlops.hooks.mlflow import MlflowTrackingHook
from airflow_mlops.hooks.store import MlopsStoreHook

MLFLOW_CONN_ID = MlflowTrackingHook.default_conn_name
STORE_CONN_ID = MlopsStoreHook.default_conn_name

TRACKING_URI = "MLFLOW_TRACKING_URI"
REGISTRY_URI = "MLFLOW_REGISTRY_URI"
STORE_URL = "MLOPS_STORE_URL"

FROM_ENVIRONMENT = "the environment"
DEFAULT = "the default"

#: The values this module exported in this process, by variable. A later call in the same
#: process (the next task under ``dag.test()``) tells them from the user's own variables and
#: resolves them afresh, so a changed or deleted connection is seen and never mistaken for
#: an environment setting that wins.
_exported: dict[str, str] = {}

_log = logging.getLogger(__name__)


class InfoLog(Protocol):
    """What the report line needs: an operator's ``self.log`` (structlog) or a ``logging.Logger``."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...


def apply_connections(
    log: InfoLog | None = None,
    *,
    mlflow_conn_id: str = MLFLOW_CONN_ID,
    store_conn_id: str = STORE_CONN_ID,
) -> dict[str, str]:
    """Export the connections' settings this process lacks; returns each variable's source.

    ``log`` gets one info line naming where each setting came from (never a
    value: URLs may carry passwords). Raises ``ValueError`` naming the
    connection and field when a connection exists but cannot be used; nothing
    is exported then.
    """
    _forget_exported()
    mlflow_values = _mlflow_values(mlflow_conn_id)
    store_values = _store_values(store_conn_id)
    sources = {**_export(*mlflow_values), **_export(*store_values)}
    if sources.get(REGISTRY_URI) == DEFAULT:
        sources[REGISTRY_URI] = f"{DEFAULT} (the tracking URI)"
    if log is not None:
        log.info("settings: %s", "; ".join(f"{name} from {source}" for name, source in sources.items()))
    return sources


def _mlflow_values(conn_id: str) -> tuple[dict[str, str | None], str]:
    if _environment(TRACKING_URI):
        return {TRACKING_URI: None, REGISTRY_URI: None}, FROM_ENVIRONMENT
    hook = MlflowTrackingHook(conn_id)
    if not _exists(hook):
        return {TRACKING_URI: None, REGISTRY_URI: None}, DEFAULT
    values = {
        TRACKING_URI: hook.get_tracking_uri(),
        REGISTRY_URI: hook.get_registry_uri(),
        **hook.get_credentials(),
    }
    return values, f"connection {conn_id!r}"


def _store_values(conn_id: str) -> tuple[dict[str, str | None], str]:
    if _environment(STORE_URL):
        return {STORE_URL: None}, FROM_ENVIRONMENT
    hook = MlopsStoreHook(conn_id)
    if not _exists(hook):
        return {STORE_URL: None}, DEFAULT
    return {STORE_URL: hook.get_store_url()}, f"connection {conn_id!r}"


def _export(values: dict[str, str | None], source: str) -> dict[str, str]:
    """Set each value whose variable is unset; the sources, by variable."""
    sources = {}
    for name, value in values.items():
        if _environment(name):
            sources[name] = FROM_ENVIRONMENT
        elif value:
            os.environ[name] = value
            _exported[name] = value
            sources[name] = source
        else:
            sources[name] = DEFAULT
    return sources


def _exists(hook: ConnectionHook) -> bool:
    """Whether ``hook``'s connection is defined; an unreadable ``AIRFLOW_CONN_<ID>`` is an error.

    Airflow's lookup treats a variable it cannot parse as no connection at all;
    silently falling back to the default store there would hide the typo.
    """
    try:
        hook.connection  # noqa: B018 - looked up for its error
    except AirflowNotFoundException:
        variable = f"AIRFLOW_CONN_{hook.conn_id.upper()}"
        if os.environ.get(variable, "").strip():
            raise ValueError(
                f"connection {hook.conn_id!r}: {variable} is set but Airflow cannot read it as a "
                "connection; expected JSON such as "
                '{"conn_type": "...", "host": "...", "extra": {...}} or a URI such as '
                "conn-type://login:password@host:port/schema"
            ) from None
        _log.debug("no connection %r: its settings keep their defaults", hook.conn_id)
        return False
    return True


def _environment(name: str) -> bool:
    """Set and non-empty, the test ``get_settings`` applies (an empty value means unset)."""
    return bool(os.environ.get(name))


def _forget_exported() -> None:
    for name, value in _exported.items():
        if os.environ.get(name) == value:
            del os.environ[name]
    _exported.clear()
