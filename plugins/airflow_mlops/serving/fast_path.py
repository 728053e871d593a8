"""An ASGI fast path for the prediction route, in front of FastAPI's router.

Why: a prediction is the one request that arrives thousands of times a second,
and FastAPI's generic machinery around it (the exception and exit-stack
middlewares, route matching, dependency solving, endpoint wrapping) was about a
tenth of a 100-row request's time and more of a 1-row one's (profiled with
py-spy; ``docs/architecture.md``, "Serving: where the time goes"). This
middleware recognises ``POST /predApi/v1.0/deployments/{id}/predictions``,
authenticates it with the app's own authenticators and calls the same
:class:`~airflow_mlops.serving.prediction_route.PredictionEndpoint` the
documented FastAPI route calls, and answers errors through the app's own
exception handlers, so both ways give byte-for-byte the same answers. Every
other request goes on to FastAPI untouched. It counts every prediction request for
the Prometheus metrics (:mod:`airflow_mlops.serving.metrics`), errors included,
once its answer is sent.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from airflow_mlops.api.auth import Authenticator, authenticate
from airflow_mlops.serving.metrics import PredictionOutcome
from airflow_mlops.serving.prediction_route import PredictionEndpoint

__all__ = ["PredictionFastPath", "answer_error", "prediction_deployment_id"]

_PATH = re.compile(r"^/predApi/v1\.0/deployments/([^/]+)/predictions$")

ExceptionHandler = Callable[[Request, Exception], Any]


def prediction_deployment_id(scope: Scope) -> str | None:
    """The deployment id when ``scope`` is a prediction request, else ``None``.

    The path is matched below the mount point (``root_path``), as Starlette's router
    does, so the plugin's mount inside Airflow's API server is served too.
    """
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    match = _PATH.match(path)
    return match.group(1) if match else None


class PredictionFastPath:
    """ASGI middleware: prediction requests straight to the endpoint, the rest to ``app``.

    ``handlers`` are the FastAPI app's exception handlers (``app.exception_handlers``),
    looked up by the exception's class hierarchy as Starlette's own middleware does;
    ``authenticators`` the app's (``app.state.authenticators``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        endpoint: PredictionEndpoint,
        authenticators: Sequence[Authenticator],
        handlers: Mapping[Any, ExceptionHandler],
    ) -> None:
        self.app = app
        self.endpoint = endpoint
        self.authenticators = authenticators
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deployment_id = prediction_deployment_id(scope)
        if deployment_id is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope, receive)
        outcome = PredictionOutcome()
        try:
            principal = await authenticate(request, self.authenticators)
            response = await self.endpoint(request, deployment_id, principal, outcome)
        except Exception as exc:  # every error becomes the answer the app's handlers give it
            try:
                response = await answer_error(self.handlers, request, exc)
            except Exception:
                self.endpoint.observe(deployment_id, outcome, 500, time.perf_counter() - started)
                raise
        await response(scope, receive, send)
        self.endpoint.observe(deployment_id, outcome, response.status_code, time.perf_counter() - started)


async def answer_error(
    handlers: Mapping[Any, ExceptionHandler], request: Request, exc: Exception
) -> Response:
    """The answer the app's exception ``handlers`` give ``exc`` (re-raised if none handles it)."""
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            answer = handler(request, exc)
            if inspect.isawaitable(answer):
                answer = await answer
            assert isinstance(answer, Response)
            return answer
    raise exc
