"""The FastAPI app: DataRobot-shaped prediction and management routes.

One factory serves both the management API (``/api/v2/deployments/…``) and
predictions (``/predApi/v1.0/deployments/{id}/predictions``). The plugin mounts
it inside the Airflow API server; ``airflow-mlops serve`` runs it alone under
uvicorn. Every prediction is appended to the prediction log for monitoring.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api.auth import Authenticator, Caller, bearer_token
from airflow_mlops.api.deployments import build_router
from airflow_mlops.api.errors import ERRORS, error, install_error_handlers
from airflow_mlops.api.monitoring import build_monitoring_router
from airflow_mlops.api.projects import build_projects_router
from airflow_mlops.api.status import build_status_router
from airflow_mlops.api.version import build_version_router
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import DeploymentNotFound, ModelRef
from airflow_mlops.prediction_log import PredictionBatch, PredictionLogUnavailable, PredictionLogWriter
from airflow_mlops.registry.mlflow_context import bound_mlflow_http_requests
from airflow_mlops.security import (
    AuthCache,
    Principal,
    VerifiedToken,
    allowed,
    check_token,
    role_of,
)
from airflow_mlops.security.tokens import PREFIX as TOKEN_PREFIX
from airflow_mlops.serving.batching import MicroBatcher
from airflow_mlops.serving.body import BodyLimits, read_body
from airflow_mlops.serving.csv_answer import csv_body, wants_csv
from airflow_mlops.serving.inputs import (
    Columns,
    PredictionInputError,
    parse_records,
    parse_timestamps,
    prepare_features,
)
from airflow_mlops.serving.model_cache import ModelCache
from airflow_mlops.serving.pages import LoginUrl, install_pages
from airflow_mlops.serving.prediction_query import openapi_parameters, parse_prediction_query
from airflow_mlops.serving.scoring import call_model, check_frame, finish_scoring, log_batch, predict_rows

__all__ = [
    "MAX_BODY_BYTES",
    "PredictionInputError",
    "check_features",
    "create_app",
    "parse_records",
    "parse_timestamps",
    "predict_rows",
]

log = logging.getLogger(__name__)

#: A prediction body over this many bytes is a 413 (read by :func:`airflow_mlops.serving.body.read_body`).
MAX_BODY_BYTES = 50 * 1024 * 1024
#: A client's ``X-Request-Id``: 1-128 visible ASCII characters (it is logged with every row of the
#: request and groups them into one request in service stats).
REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID_CHARS = 128
_REQUEST_ID_RE = re.compile(rf"^[\x21-\x7e]{{1,{MAX_REQUEST_ID_CHARS}}}$")


def request_id_of(header: str | None) -> str:
    """The client's request id if it sent a valid one, else a new uuid; 422 for a bad one.

    Refused rather than cut or replaced: a client that sends an id wants to find
    its request by it, so silently logging another would break that quietly.
    """
    if header is None:
        return uuid.uuid4().hex
    if not _REQUEST_ID_RE.fullmatch(header):
        shown = header if len(header) <= 40 else f"{header[:40]}... ({len(header)} characters)"
        raise HTTPException(
            status_code=422,
            detail=f"{REQUEST_ID_HEADER} header {shown!r} is not valid: expected 1-{MAX_REQUEST_ID_CHARS} "
            "visible ASCII characters (no spaces), or leave it out and the server makes one",
        )
    return header


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
            writer.close()  # flush every buffered prediction before the process exits

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

    # Registered before the routers: Starlette tries routes in order, and this is the hot one.
    @app.post(
        "/predApi/v1.0/deployments/{deployment_id}/predictions",
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
    async def predict(
        deployment_id: str,
        request: Request,
        principal: Caller,
    ) -> Response:
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
        query = parse_prediction_query(request.query_params)
        maxExplanations = query.maxExplanations
        if maxExplanations not in (None, "0"):
            raise HTTPException(
                status_code=422,
                detail=f"maxExplanations={maxExplanations!r} is not supported: prediction explanations are "
                "not computed here; send 0 or leave it out",
            )
        for name, value in (
            ("explanationAlgorithm", query.explanationAlgorithm),
            ("forecastPoint", query.forecastPoint),
            ("predictionsStartDate", query.predictionsStartDate),
            ("predictionsEndDate", query.predictionsEndDate),
        ):
            if value is not None:
                why = (
                    "prediction explanations" if name == "explanationAlgorithm" else "time series predictions"
                )
                raise HTTPException(
                    status_code=422, detail=f"{name}={value!r} is not supported: no {why} here; leave it out"
                )
        request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
        key = ("role", deployment_id, principal.name, principal.is_admin)
        hit, role = auth_cache.get(key)
        if not hit:
            role = await run_in_threadpool(
                auth_cache.lookup, key, lambda: role_of(cfg.store_url, deployment_id, principal)
            )
        if not allowed(role, "predict"):
            raise HTTPException(status_code=404, detail=f"no deployment with id {deployment_id!r}")
        try:
            # Before scoring: a prediction answered 200 must be one the log can keep.
            writer.ensure_capacity()
        except PredictionLogUnavailable as exc:
            raise HTTPException(
                status_code=503, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}
            ) from exc
        body = await read_body(request, limit=MAX_BODY_BYTES, limits=body_limits)
        cache_hit = cache.is_loaded(deployment_id)
        try:
            loaded = cache.get(deployment_id)
        except DeploymentNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        if loaded.status != "active":
            raise HTTPException(status_code=422, detail=f"deployment {deployment_id!r} is {loaded.status}")
        try:
            frame = parse_records(body, request.headers.get("content-type", "application/json"))
            stamps = parse_timestamps(frame, query.timestampColumn, datetime.now(UTC))
            checked = check_frame(
                loaded,
                frame,
                passthrough=query.passthroughColumns,
                passthrough_set=query.passthroughColumnsSet,
            )
            (rows, logged), execution_ms = await batcher.predict_timed(loaded, checked.features)
            scored = finish_scoring(loaded, checked, rows, logged, execution_ms=execution_ms)
        except PredictionInputError as exc:
            raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        writer.append_batch(
            deployment_id,
            log_batch(
                loaded,
                scored,
                stamps,
                latency_ms,
                request_id=request_id,
                caller=principal.name,
                cache_hit=cache_hit,
            ),
        )
        headers = {
            REQUEST_ID_HEADER: request_id,
            "X-MLOps-Model-Id": loaded.info.ref.id,
            "X-MLOps-Execution-Time": f"{latency_ms:.3f}",
            # DataRobot's: whole milliseconds, and whether the model was already in memory.
            "X-DataRobot-Execution-Time": str(round(latency_ms)),
            "X-DataRobot-Model-Cache-Hit": "true" if cache_hit else "false",
        }
        if wants_csv(request.headers.get("accept")):
            return Response(csv_body(loaded.info, scored.rows), media_type="text/csv", headers=headers)
        return Response(
            orjson.dumps({"data": scored.rows}, option=orjson.OPT_SERIALIZE_NUMPY),
            media_type="application/json",
            headers=headers,
        )

    app.include_router(build_router(cfg))
    app.include_router(build_monitoring_router(cfg))
    app.include_router(build_version_router(app.version))
    app.include_router(build_status_router())
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
