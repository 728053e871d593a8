"""``GET /metrics``: the prediction server's Prometheus metrics, for an authenticated scraper.

Why a credential, unlike ``/health``: ``/health`` says only "ok" or "warming", while the
metrics name every deployment and its traffic, and the rest of the API hides a deployment
from whoever has no role on it (404, so ids cannot be probed). So ``/metrics`` takes
the same bearer token as every other route (Prometheus sends one with
``authorization: {credentials_file: ...}`` in its scrape config) and shows each caller
the per-deployment series of the deployments it may read (USER or OWNER; an
administrator sees all). Series without a deployment (the prediction log's queue and
flush failures, requests for unknown ids) are shown to every authenticated caller.
Nothing else is exposed: no token, user name, feature value or error message.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api.auth import Caller
from airflow_mlops.api.errors import ERRORS
from airflow_mlops.security import Principal, allowed, roles_of
from airflow_mlops.serving.metrics import CONTENT_TYPE, exposition

__all__ = ["METRICS_PATH", "build_metrics_router", "readable_deployments"]

METRICS_PATH = "/metrics"


def readable_deployments(store_url: str, principal: Principal) -> frozenset[str] | None:
    """The deployments whose series ``principal`` may see; ``None``: all (an administrator)."""
    if principal.is_admin:
        return None
    return frozenset(d for d, role in roles_of(store_url, principal).items() if allowed(role, "read"))


def build_metrics_router(store_url: str) -> APIRouter:
    router = APIRouter(tags=["metrics"])

    @router.get(
        METRICS_PATH,
        summary="Prometheus metrics, for an authenticated scraper",
        response_class=Response,
        responses={
            401: ERRORS[401],
            503: ERRORS[503],
            200: {
                "description": "Prometheus' text exposition format (version 0.0.4)",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
        },
    )
    async def metrics(principal: Caller) -> Response:
        """The server's Prometheus metrics, summed over its worker processes.

        Prediction requests and rows by deployment, model version and status class,
        request latency, model loads and swaps, the prediction log's pending rows and
        flush failures (names in the README, "Prometheus metrics"). A caller sees the
        deployments it may read (USER or OWNER); an admin token sees every deployment.
        """

        def render() -> bytes:
            return exposition(readable_deployments(store_url, principal))

        return Response(await run_in_threadpool(render), media_type=CONTENT_TYPE)

    return router
