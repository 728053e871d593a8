"""The FastAPI app: DataRobot-shaped prediction and management routes.

One factory serves both the management API (``/api/v2/deployments/…``) and
predictions (``/predApi/v1.0/deployments/{id}/predictions``). The plugin mounts
it inside the Airflow API server; ``airflow-mlops serve`` runs it alone under
uvicorn. Every prediction is appended to the prediction log for monitoring, and counted
in the Prometheus metrics at ``GET /metrics`` (:mod:`airflow_mlops.serving.metrics`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api.auth import Authenticator, Caller, bearer_token
from airflow_mlops.api.deployments import build_router
from airflow_mlops.api.errors import ERRORS, error, install_error_handlers
from airflow_mlops.api.fairness import build_fairness_router
from airflow_mlops.api.monitoring import build_monitoring_router
from airflow_mlops.api.projects import build_projects_router
from airflow_mlops.api.status import build_status_router
from airflow_mlops.api.version import build_version_router
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import ModelRef
from airflow_mlops.prediction_log import PredictionBatch, PredictionLogWriter
from airflow_mlops.registry.mlflow_context import bound_mlflow_http_requests
from airflow_mlops.security import (
    AuthCache,
    Principal,
    VerifiedToken,
    check_token,
)
from airflow_mlops.security.tokens import PREFIX as TOKEN_PREFIX
from airflow_mlops.serving.batching import MicroBatcher
from airflow_mlops.serving.body import BodyLimits
from airflow_mlops.serving.fast_path import PredictionFastPath, answer_error
from airflow_mlops.serving.inputs import (
    Columns,
    PredictionInputError,
    parse_records,
    parse_timestamps,
    prepare_features,
)
from airflow_mlops.serving.metrics import LogWriterMetrics, PredictionOutcome, worker_exiting
from airflow_mlops.serving.metrics_route import build_metrics_router
from airflow_mlops.serving.model_cache import ModelCache
from airflow_mlops.serving.pages import LoginUrl, install_pages
from airflow_mlops.serving.prediction_query import openapi_parameters
from airflow_mlops.serving.prediction_route import (
    MAX_BODY_BYTES,
    PREDICTION_PATH,
    REQUEST_ID_HEADER,
    PredictionEndpoint,
    request_id_of,
)
from airflow_mlops.serving.scoring import call_model, predict_rows

__all__ = [
    "MAX_BODY_BYTES",
    "REQUEST_ID_HEADER",
    "PredictionInputError",
    "check_features",
    "create_app",
    "parse_records",
    "parse_timestamps",
    "predict_rows",
    "request_id_of",
]

log = logging.getLogger(__name__)

#: The prediction body, read by hand (JSON or CSV): documented so clients and the fuzz can send one.
PREDICTION_BODY: dict[str, Any] = {
    "required": True,
    "description": "The rows to score: JSON records (one object per row) or CSV with a header row.",
    "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/csv": {"schema": {"type": "string"}},
    },
}


def _load_predictor(settings: Settings) -> Any:
    from airflow_mlops.registry import load_predictor

    def loader(ref: ModelRef) -> Any:
        return load_predictor(
            ref.id, tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
        )

    return loader


def check_features(frame: pd.DataFrame, features: list[str]) -> None:
    """Presence and plain-value checks only (no signature); kept for callers of the old name."""
    prepare_features(Columns.from_frame(frame), features, None)


def _cached_token_authenticator(store_url: str, cache: AuthCache) -> Authenticator:
    """The API-token check, answered from the worker's :class:`AuthCache` when it may be trusted."""

    async def authenticate(request: Request) -> Principal | None:
        token = bearer_token(request)
        if token is None or not token.startswith(TOKEN_PREFIX):
            return None
        key = ("token", hashlib.sha256(token.encode()).digest())
        hit, verified = cache.get(key)
        if not hit:
            verified = await run_in_threadpool(cache.lookup, key, lambda: check_token(store_url, token))
        return cast(VerifiedToken, verified).principal_now()

    return authenticate


def create_app(
    settings: Settings | None = None,
    *,
    loader: Any = None,
    authenticators: Sequence[Authenticator] | None = None,
    login_url: LoginUrl | None = None,
    project_runner: str = "local",
) -> FastAPI:
    """Build the app; ``settings`` default to the environment's (see ``config.get_settings``).

    ``authenticators`` run before the API-token check; the Airflow plugin adds one
    that accepts a logged-in Airflow user, and a ``login_url`` to send a browser
    without a login to (see :mod:`airflow_mlops.serving.pages`). ``project_runner`` names who runs
    a DataRobot project's sweep when ``MLOPS_PROJECT_RUNNER`` is unset (``local``: a child process;
    the plugin passes ``airflow``; see :mod:`airflow_mlops.services.project_runners`).
    """
    cfg = settings or get_settings()
    # A REST call that needs MLflow (a model replacement, a deployment's creation) answers 503
    # within seconds when MLflow is down, not after MLflow's four minutes of retries.
    bound_mlflow_http_requests()
    auth_cache = AuthCache(cfg.store_url)
    authenticators = [*(authenticators or []), _cached_token_authenticator(cfg.store_url, auth_cache)]
    cache = ModelCache(cfg.store_url, loader or _load_predictor(cfg))
    writer = _LazyWriter(cfg)
    batcher = MicroBatcher(call_model, concat=Columns.concat)
    body_limits = BodyLimits.from_environment()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        cache.start(warm=True)
        auth_cache.start()
        try:
            yield
        finally:
            auth_cache.stop()
            cache.stop()
            try:
                writer.close()  # flush every buffered prediction before the process exits
            finally:
                worker_exiting()  # this worker's queue depth leaves the summed metrics

    app = FastAPI(
        title="airflow-mlops",
        version="0.1.0",
        description="Deployments management (DataRobot API v2 shape) and predictions.",
        lifespan=lifespan,
        docs_url=None,  # pages.install_pages serves /docs on the packaged Swagger UI
        redoc_url=None,
    )
    install_error_handlers(app, store_url=cfg.store_url)
    app.state.model_cache = cache
    app.state.prediction_log = writer
    app.state.settings = cfg
    app.state.project_runner = project_runner  # the default MLOPS_PROJECT_RUNNER overrides

    @app.get(
        "/health",
        response_model=None,
        responses={503: {"description": "Still loading the active deployments' models ({status: warming})"}},
    )
    def health() -> dict[str, Any] | JSONResponse:
        """Readiness: 503 while the active deployments' models are still loading at start-up.

        While the prediction log cannot be written, ``predictionLog`` says how many rows
        wait in memory, the bound past which predictions are refused, and the last error
        (the server stays ready: it still answers until the bound, and other routes work).
        """
        if cache.warming:
            return JSONResponse({"status": "warming"}, status_code=503)
        backlog = writer.backlog()
        return {"status": "ok"} if backlog is None else {"status": "ok", "predictionLog": backlog}

    app.state.authenticators = authenticators

    endpoint = PredictionEndpoint(cfg, auth_cache, cache, writer, batcher, body_limits)

    # Registered before the routers: Starlette tries routes in order, and this is the hot one.
    # It documents the route (OpenAPI); requests normally reach the endpoint through the
    # fast path installed below, which answers exactly as this route would.
    @app.post(
        PREDICTION_PATH,
        responses={
            **ERRORS,
            200: {
                "description": "One answer row per input row, as JSON ({data: [...]}) or, asked for, CSV",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            413: error(f"The body is over {MAX_BODY_BYTES} bytes"),
        },
        openapi_extra={"requestBody": PREDICTION_BODY, "parameters": openapi_parameters()},
    )
    async def predict(deployment_id: str, request: Request, principal: Caller) -> Response:
        """Score JSON records or CSV; DataRobot's answer shape, every row logged.

        ``passthroughColumns`` (repeatable) or ``passthroughColumnsSet=all`` copy
        request columns into each answer row's ``passthroughValues``;
        ``timestampColumn`` takes each row's prediction time from a column.
        ``Accept: text/csv`` answers DataRobot's CSV columns (``<target>_PREDICTION``…,
        see :mod:`airflow_mlops.serving.csv_answer`); JSON is the default. A
        ``datarobot-key`` header is accepted and ignored (no per-organization key
        here). ``maxExplanations`` may only be 0 (no prediction explanations);
        ``thresholdHigh``/``thresholdLow``/``maxNgramExplanations`` only tune
        explanations, so they are ignored; time series parameters are refused.
        An ``X-Request-Id`` header (1-128 visible ASCII characters) names the request
        in the prediction log, else the server makes one; either way it is answered
        back in ``X-Request-Id``. The log also keeps the caller's name, whether the
        model was already loaded, and how long the model call took.
        """
        started = time.perf_counter()
        outcome = PredictionOutcome()
        try:
            response = await endpoint(request, deployment_id, principal, outcome)
        except Exception as exc:  # answered (and counted) as the fast path does
            try:
                response = await answer_error(app.exception_handlers, request, exc)
            except Exception:
                endpoint.observe(deployment_id, outcome, 500, time.perf_counter() - started)
                raise
        endpoint.observe(deployment_id, outcome, response.status_code, time.perf_counter() - started)
        return response

    app.add_middleware(
        PredictionFastPath,
        endpoint=endpoint,
        authenticators=authenticators,
        handlers=app.exception_handlers,
    )

    app.include_router(build_router(cfg))
    app.include_router(build_monitoring_router(cfg))
    app.include_router(build_fairness_router(cfg))
    app.include_router(build_version_router(app.version))
    app.include_router(build_status_router())
    app.include_router(build_metrics_router(cfg.store_url))
    app.include_router(build_projects_router(cfg, default_runner=project_runner))
    install_pages(app, login_url=login_url)
    return app


class _LazyWriter:
    """The prediction-log writer, created on the first prediction.

    Airflow imports plugins in every process (scheduler, workers, triggerer); only
    the one that serves predictions should run a flusher thread. Its backlog is
    bounded by ``MLOPS_PREDICTION_LOG_MAX_PENDING_ROWS`` (``Settings.prediction_log_max_pending_rows``).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._writer: PredictionLogWriter | None = None
        self._lock = threading.Lock()

    def get(self) -> PredictionLogWriter:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = PredictionLogWriter(
                        self._settings.prediction_log_dir,
                        max_pending_rows=self._settings.prediction_log_max_pending_rows,
                        events=LogWriterMetrics(),
                    )
        return self._writer

    def ensure_capacity(self) -> None:
        """See :meth:`PredictionLogWriter.ensure_capacity`; nothing is pending before the first prediction."""
        if self._writer is not None:
            self._writer.ensure_capacity()

    def backlog(self) -> dict[str, Any] | None:
        """``None`` while the log is written normally; else what waits and why (for ``/health``)."""
        writer = self._writer
        if writer is None:
            return None
        error = writer.last_error
        if error is None:
            return None
        return {"pendingRows": writer.pending, "maxPendingRows": writer.max_pending_rows, "lastError": error}

    def append(self, deployment_id: str, rows: list[dict[str, Any]]) -> None:
        self.get().append(deployment_id, rows)

    def append_batch(self, deployment_id: str, batch: PredictionBatch) -> None:
        self.get().append_batch(deployment_id, batch)

    def flush(self) -> int:
        return 0 if self._writer is None else self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
