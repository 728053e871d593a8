"""The prediction endpoint: score JSON records or CSV for one deployment, every row logged.

One object holds what a prediction needs (the worker's model cache, auth cache,
micro-batcher, log writer and body limits), so the same code answers whether
the request came through FastAPI's router (the documented route) or through the
ASGI fast path (:mod:`airflow_mlops.serving.fast_path`) that skips the router for
this, the hot route.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import orjson
from fastapi import HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from airflow_mlops.config import Settings
from airflow_mlops.deployments import DeploymentNotFound
from airflow_mlops.prediction_log import PredictionBatch, PredictionLogUnavailable
from airflow_mlops.security import AuthCache, Principal, allowed, role_of
from airflow_mlops.serving.batching import MicroBatcher
from airflow_mlops.serving.body import BodyLimits, read_body
from airflow_mlops.serving.csv_answer import csv_body, wants_csv
from airflow_mlops.serving.explaining import explain_request, explain_rows
from airflow_mlops.serving.inputs import PredictionInputError, parse_records, parse_timestamps
from airflow_mlops.serving.metrics import PredictionMetrics, PredictionOutcome
from airflow_mlops.serving.model_cache import ModelCache
from airflow_mlops.serving.prediction_query import parse_prediction_query
from airflow_mlops.serving.scoring import check_frame, finish_scoring, log_batch

__all__ = [
    "MAX_BODY_BYTES",
    "PREDICTION_PATH",
    "REQUEST_ID_HEADER",
    "PredictionEndpoint",
    "request_id_of",
]

#: The route, as FastAPI spells it (the fast path matches the same shape).
PREDICTION_PATH = "/predApi/v1.0/deployments/{deployment_id}/predictions"
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


class LogWriter(Protocol):
    """What the endpoint needs of the prediction log (the app's lazily created writer)."""

    def ensure_capacity(self) -> None: ...

    def append_batch(self, deployment_id: str, batch: PredictionBatch) -> None: ...


#: Parameters that only make sense for time series: refused, naming why.
_UNSUPPORTED = ("forecastPoint", "predictionsStartDate", "predictionsEndDate")


@dataclass
class PredictionEndpoint:
    """Answers ``POST /predApi/v1.0/deployments/{id}/predictions`` for an authenticated caller."""

    settings: Settings
    auth_cache: AuthCache
    models: ModelCache
    writer: LogWriter
    batcher: MicroBatcher
    body_limits: BodyLimits
    metrics: PredictionMetrics = field(default_factory=PredictionMetrics)

    def observe(self, deployment_id: str, outcome: PredictionOutcome, status: int, seconds: float) -> None:
        """Count one answered request (both the fast path and the routed path call this).

        A request that failed before its model was looked up is labelled with the model
        this worker has loaded for the id, if any, else counted under ``deployment=""``.
        """
        if outcome.deployment is None:
            loaded = self.models.peek(deployment_id)
            if loaded is not None:
                outcome.deployment, outcome.model_version = deployment_id, loaded.info.ref.id
        self.metrics.observe(outcome, status, seconds)

    async def __call__(
        self,
        request: Request,
        deployment_id: str,
        principal: Principal,
        outcome: PredictionOutcome | None = None,
    ) -> Response:
        """The answer; ``outcome`` (for the metrics) learns the model used and the rows read."""
        started = time.perf_counter()
        if outcome is None:
            outcome = PredictionOutcome()
        query = parse_prediction_query(request.query_params)
        try:
            explain = explain_request(query.maxExplanations, query.thresholdHigh, query.thresholdLow)
        except PredictionInputError as exc:
            raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
        if query.explanationAlgorithm is not None and query.explanationAlgorithm.lower() != "shap":
            raise HTTPException(
                status_code=422,
                detail=f"explanationAlgorithm={query.explanationAlgorithm!r} is not supported: explanations "
                "here are SHAP values; send 'shap' or leave it out",
            )
        for name in _UNSUPPORTED:
            value = getattr(query, name)
            if value is not None:
                raise HTTPException(
                    status_code=422,
                    detail=f"{name}={value!r} is not supported: no time series predictions here; leave it out",
                )
        headers_in = request.headers
        request_id = request_id_of(headers_in.get(REQUEST_ID_HEADER))
        await self._check_role(deployment_id, principal)
        try:
            # Before scoring: a prediction answered 200 must be one the log can keep.
            self.writer.ensure_capacity()
        except PredictionLogUnavailable as exc:
            raise HTTPException(
                status_code=503, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}
            ) from exc
        body = await read_body(request, limit=MAX_BODY_BYTES, limits=self.body_limits)
        cache_hit = self.models.is_loaded(deployment_id)
        try:
            loaded = self.models.get(deployment_id)
        except DeploymentNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        outcome.deployment, outcome.model_version = deployment_id, loaded.info.ref.id
        if loaded.status != "active":
            raise HTTPException(status_code=422, detail=f"deployment {deployment_id!r} is {loaded.status}")
        try:
            frame = parse_records(body, headers_in.get("content-type", "application/json"))
            outcome.rows = len(frame)
            stamps = parse_timestamps(frame, query.timestampColumn, datetime.now(UTC))
            checked = check_frame(
                loaded,
                frame,
                passthrough=query.passthroughColumns,
                passthrough_set=query.passthroughColumnsSet,
            )
            (rows, logged), execution_ms = await self.batcher.predict_timed(loaded, checked.features)
            scored = finish_scoring(loaded, checked, rows, logged, execution_ms=execution_ms)
            if explain is not None:
                await run_in_threadpool(explain_rows, loaded, checked.features, scored.rows, explain)
        except PredictionInputError as exc:
            raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        self.writer.append_batch(
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
        headers = _answer_headers(request_id, loaded.info.ref.id, latency_ms, cache_hit)
        if wants_csv(headers_in.get("accept")):
            return Response(csv_body(loaded.info, scored.rows), media_type="text/csv", headers=headers)
        return Response(
            orjson.dumps({"data": scored.rows}, option=orjson.OPT_SERIALIZE_NUMPY),
            media_type="application/json",
            headers=headers,
        )

    async def _check_role(self, deployment_id: str, principal: Principal) -> None:
        """404 unless the caller may predict (no role at all answers as if there were no deployment)."""
        key = ("role", deployment_id, principal.name, principal.is_admin)
        hit, role = self.auth_cache.get(key)
        if not hit:
            store_url = self.settings.store_url
            role = await run_in_threadpool(
                self.auth_cache.lookup, key, lambda: role_of(store_url, deployment_id, principal)
            )
        if not allowed(role, "predict"):
            raise HTTPException(status_code=404, detail=f"no deployment with id {deployment_id!r}")


def _answer_headers(request_id: str, model_id: str, latency_ms: float, cache_hit: bool) -> dict[str, str]:
    return {
        REQUEST_ID_HEADER: request_id,
        "X-MLOps-Model-Id": model_id,
        "X-MLOps-Execution-Time": f"{latency_ms:.3f}",
        # DataRobot's: whole milliseconds, and whether the model was already in memory.
        "X-DataRobot-Execution-Time": str(round(latency_ms)),
        "X-DataRobot-Model-Cache-Hit": "true" if cache_hit else "false",
    }
