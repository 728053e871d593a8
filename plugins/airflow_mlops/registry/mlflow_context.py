"""Point MLflow's fluent API at given stores for one block, and leave no trace afterwards.

``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` (and the
registry's variable) so subprocesses inherit it; ``config.get_settings`` reads
those variables, so one call with explicit URIs would silently redirect every
later settings-based call in the process (a test's store leaking into the next
test, a DAG task's into the next task). Both the variables and MLflow's global
URIs are put back as they were on exit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.tracking import MlflowClient

#: Environment variables ``mlflow.set_tracking_uri``/``set_registry_uri`` write as a side effect.
MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def mlflow_stores(tracking_uri: str, registry_uri: str | None = None) -> Iterator[MlflowClient]:
    if not tracking_uri:
        raise ValueError("tracking_uri is required; refusing to fall back to MLflow's default location")
    saved = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
    had_tracking = mlflow.tracking._tracking_service.utils._tracking_uri
    had_registry = mlflow.tracking._model_registry.utils._registry_uri
    registry = registry_uri or tracking_uri
    try:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(registry)
        yield MlflowClient(tracking_uri=tracking_uri, registry_uri=registry)
    finally:
        mlflow.tracking._tracking_service.utils._tracking_uri = had_tracking
        mlflow.tracking._model_registry.utils._registry_uri = had_registry
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
