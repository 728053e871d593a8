"""Point MLflow's fluent API at given stores for one block, and leave no trace afterwards.

``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` (and the
registry's variable) so subprocesses inherit it; ``config.get_settings`` reads
those variables, so one call with explicit URIs would silently redirect every
later settings-based call in the process (a test's store leaking into the next
test, a DAG task's into the next task). Both the variables and MLflow's global
URIs are put back as they were on exit.

Also here: how long a process that answers HTTP requests lets MLflow's client
retry an MLflow server that does not answer (:func:`bound_mlflow_http_requests`),
and how to tell that failure from a real "no such model" (:func:`mlflow_unreachable`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.tracking import MlflowClient

#: Environment variables ``mlflow.set_tracking_uri``/``set_registry_uri`` write as a side effect.
MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")

#: What a request-serving process allows MLflow's HTTP client, unless the environment says
#: otherwise. MLflow's own defaults (7 retries with a back-off from 2 s doubling to 120 s,
#: 120 s per attempt) are right for a training job riding out rate limits, but would hold a
#: REST call for about four minutes when the tracking server is down. With these, a refused
#: connection fails in about 5 s (a retry at once, one after about 4 s) and a server that
#: takes the connection but never answers in at most 3 x 10 s.
SERVING_MLFLOW_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def bound_mlflow_http_requests() -> None:
    """Set :data:`SERVING_MLFLOW_HTTP_DEFAULTS` where the environment has no value of its own.

    Process-wide (MLflow reads these variables at each request), so only the
    processes that answer HTTP call it: the prediction/management server. Training
    and monitoring tasks keep MLflow's patient defaults.
    """
    for name, value in SERVING_MLFLOW_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def mlflow_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the MLflow server did not answer (refused, timed out, kept failing).

    MLflow wraps every transport failure, after its retries, in an ``MlflowException``
    with the default ``INTERNAL_ERROR`` code and a message starting "API request to";
    an answer from the server (a missing model, a bad parameter) carries the server's
    own error code instead.
    """
    from mlflow.exceptions import MlflowException

    return (
        isinstance(exc, MlflowException)
        and exc.error_code == "INTERNAL_ERROR"
        and str(exc.message).startswith("API request to ")
    )


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
