"""The FastAPI app: DataRobot-shaped prediction and management routes.

One factory serves both the management API (``/api/v2/deployments/…``) and
predictions (``/predApi/v1.0/deployments/{id}/predictions``). The plugin mounts
it inside the Airflow API server; ``airflow-mlops serve`` runs it alone under
uvicorn. Every prediction is appended to the prediction log for monitoring.
"""

from __future__ import annotations

import html
import io
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api.auth import Authenticator, Caller, token_authenticator
from airflow_mlops.api.deployments import build_router
from airflow_mlops.api.errors import install_error_handlers
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import Deployment, DeploymentNotFound, ModelRef
from airflow_mlops.security import allowed, role_of
from airflow_mlops.serving.model_cache import LoadedModel, ModelCache
from airflow_mlops.serving.prediction_log import PredictionLogWriter

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 50 * 1024 * 1024


class PredictionInputError(ValueError):
    """Bad prediction input; the message names the row and column."""


def _load_predictor(settings: Settings) -> Any:
    from airflow_mlops.registry import load_predictor

    def loader(ref: ModelRef) -> Any:
        return load_predictor(
            ref.id, tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
        )

    return loader


def parse_records(body: bytes, content_type: str) -> pd.DataFrame:
    """Read JSON records or CSV into a frame, with errors a caller can act on."""
    if not body.strip():
        raise PredictionInputError("the request body is empty; send JSON records or CSV with a header row")
    if "csv" in content_type:
        try:
            return pd.read_csv(io.BytesIO(body))
        except Exception as exc:
            raise PredictionInputError(f"the CSV body could not be parsed: {exc}") from exc
    try:
        frame = pd.read_json(io.BytesIO(body), orient="records", dtype=False, convert_dates=False)
    except ValueError as exc:
        raise PredictionInputError(f"the JSON body must be a list of records (objects): {exc}") from exc
    return frame


def check_features(frame: pd.DataFrame, features: list[str]) -> None:
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise PredictionInputError(
            f"row 0: column {missing[0]!r} is missing; the model expects the columns {features}"
        )
    for column in features:
        if frame[column].dtype == object:
            nested = frame[column].map(lambda v: isinstance(v, dict | list)).to_numpy()
            if nested.any():
                row = int(np.flatnonzero(nested)[0])
                kind = type(frame[column].iloc[row]).__name__
                raise PredictionInputError(
                    f"row {row}: column {column!r} holds a {kind}; expected a plain value"
                )


def unscorable(frame: pd.DataFrame, features: list[str], exc: Exception) -> str:
    """Why the model refused rows (such as a word in a numeric column), naming the first bad cell."""
    for column in features:
        values = frame[column]
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any() and numbers.notna().any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            return f"row {row}: column {column!r} value {values.iloc[row]!r:.80} is not a number"
    return f"the model could not score these rows: {str(exc)[:500]}"


def parse_timestamps(frame: pd.DataFrame, column: str | None, now: datetime) -> pd.Series:
    """Each row's prediction time: the named column (for backfills and simulations) or now."""
    if column is None:
        return pd.Series([now] * len(frame), index=frame.index)
    if column not in frame.columns:
        raise PredictionInputError(f"row 0: timestamp column {column!r} is missing")
    # ISO8601 parses each value on its own terms; an inferred format would reject valid
    # values spelled differently from the first (datetime.isoformat() drops zero fractions).
    parsed = pd.to_datetime(frame[column], utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise PredictionInputError(
            f"row {row}: column {column!r} value {frame[column].iloc[row]!r} is not a timestamp (ISO-8601 expected)"
        )
    return parsed


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def predict_rows(loaded: LoadedModel, frame: pd.DataFrame) -> tuple[list[dict[str, Any]], list[Any]]:
    """DataRobot-shaped rows, and per row the value target drift watches (see ``monitored_values``)."""
    from airflow_mlops.registry import ExternalModelError, monitored_values

    try:
        output = loaded.model.predict(frame[loaded.info.features])
    except ExternalModelError as exc:
        raise PredictionInputError(str(exc)) from exc
    rows: list[dict[str, Any]] = []
    for i, label in enumerate(output.labels):
        if output.probabilities is not None and output.classes is not None:
            values = [
                {"label": _plain(c), "value": float(output.probabilities[i, j])}
                for j, c in enumerate(output.classes)
            ]
        else:
            values = [
                {
                    "label": loaded.info.target if loaded.info.task == "regression" else _plain(label),
                    "value": float(label) if loaded.info.task == "regression" else 1.0,
                }
            ]
        prediction = float(label) if loaded.info.task == "regression" else _plain(label)
        rows.append({"rowId": i, "prediction": prediction, "predictionValues": values})
    logged = [_plain(v) for v in monitored_values(loaded.info.task, output)]
    return rows, logged


def create_app(
    settings: Settings | None = None,
    *,
    loader: Any = None,
    authenticators: Sequence[Authenticator] | None = None,
) -> FastAPI:
    """Build the app; ``settings`` default to the environment's (see ``config.get_settings``).

    ``authenticators`` run before the API-token check; the Airflow plugin adds one
    that accepts a logged-in Airflow user.
    """
    cfg = settings or get_settings()
    authenticators = [*(authenticators or []), token_authenticator(cfg.store_url)]
    cache = ModelCache(cfg.store_url, loader or _load_predictor(cfg))
    writer = _LazyWriter(cfg)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        cache.start()
        try:
            yield
        finally:
            cache.stop()
            writer.close()  # flush every buffered prediction before the process exits

    app = FastAPI(
        title="airflow-mlops",
        version="0.1.0",
        description="Deployments management (DataRobot API v2 shape) and predictions.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.state.model_cache = cache
    app.state.prediction_log = writer
    app.state.settings = cfg

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.state.authenticators = authenticators
    app.include_router(build_router(cfg))

    @app.get("/ui/deployments", response_class=HTMLResponse)
    def deployments_page(principal: Caller) -> str:
        """A plain page for the Airflow nav link: the caller's deployments, their model and health."""
        rows = "".join(
            "<tr><td>{label}</td><td><code>{id}</code></td><td>{model}</td><td>{status}</td>"
            "<td class='{h}'>{h}</td><td>{msg}</td></tr>".format(
                label=html.escape(d.label),
                id=d.id,
                model=html.escape(d.model["id"]),
                status=d.status,
                h=d.model_health["status"],
                msg=html.escape(d.model_health["message"]),
            )
            for d in Deployment.list(principal=principal, store_url=cfg.store_url)
        )
        return (
            "<!doctype html><html><head><title>Deployments</title><style>"
            "body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}"
            ".failing{color:#b00}.warning{color:#b70}.passing{color:#070}</style></head><body>"
            "<h1>Deployments</h1><table><tr><th>Label</th><th>Id</th><th>Model</th><th>Status</th>"
            f"<th>Drift health</th><th>Why</th></tr>{rows}</table></body></html>"
        )

    @app.post("/predApi/v1.0/deployments/{deployment_id}/predictions")
    async def predict(
        deployment_id: str, request: Request, principal: Caller, timestampColumn: str | None = None
    ) -> JSONResponse:
        started = time.perf_counter()
        role = await run_in_threadpool(role_of, cfg.store_url, deployment_id, principal)
        if not allowed(role, "predict"):
            raise HTTPException(status_code=404, detail=f"no deployment with id {deployment_id!r}")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(status_code=413, detail=f"request body over {MAX_BODY_BYTES} bytes")
        try:
            loaded = cache.get(deployment_id)
        except DeploymentNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        if loaded.status != "active":
            raise HTTPException(status_code=422, detail=f"deployment {deployment_id!r} is {loaded.status}")
        try:
            frame = parse_records(body, request.headers.get("content-type", "application/json"))
            check_features(frame, loaded.info.features)
            stamps = parse_timestamps(frame, timestampColumn, datetime.now(UTC))
            rows, logged = predict_rows(loaded, frame)
        except PredictionInputError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        except (ValueError, TypeError) as exc:  # the model refused the values: the caller's input
            raise HTTPException(status_code=422, detail=unscorable(frame, loaded.info.features, exc)) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        feature_records = frame[loaded.info.features].to_dict(orient="records")
        writer.append(
            deployment_id,
            [
                {
                    "timestamp": stamps.iloc[i].to_pydatetime(),
                    "association_id": None,
                    "model_version": loaded.version,
                    "prediction": logged[i],
                    "status_code": 200,
                    "latency_ms": latency_ms,
                    "features": feature_records[i],
                }
                for i in range(len(rows))
            ],
        )
        return JSONResponse(
            {"data": rows},
            headers={"X-MLOps-Model-Id": loaded.info.ref.id, "X-MLOps-Execution-Time": f"{latency_ms:.3f}"},
        )

    return app


class _LazyWriter:
    """The prediction-log writer, created on the first prediction.

    Airflow imports plugins in every process (scheduler, workers, triggerer); only
    the one that serves predictions should run a flusher thread.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._writer: PredictionLogWriter | None = None
        self._lock = threading.Lock()

    def get(self) -> PredictionLogWriter:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = PredictionLogWriter(self._settings.prediction_log_dir)
        return self._writer

    def append(self, deployment_id: str, rows: list[dict[str, Any]]) -> None:
        self.get().append(deployment_id, rows)

    def flush(self) -> int:
        return 0 if self._writer is None else self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
