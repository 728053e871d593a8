"""One mapping from our exceptions to HTTP answers, so no known failure becomes a 500.

Every error answer is JSON with a ``message`` (what the official ``datarobot``
client shows) and ``detail`` (FastAPI's key, kept for existing callers), and so
always carries a ``Content-Type``: the client's error handler reads it
unconditionally.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_mlops.api.auth import NotFoundOrHidden
from airflow_mlops.deployments import DeploymentNotFound, SettingsError
from airflow_mlops.errors import RegistryUnavailable
from airflow_mlops.security import AuthError, PermissionDenied

log = logging.getLogger(__name__)

#: Where a parameter came from, as FastAPI's error ``loc`` starts; dropped from the field name.
_SOURCES = {"body", "query", "path", "header", "cookie"}


def validation_message(errors: list[Any]) -> str:
    """``field: rule, got value`` for each error, the field in the caller's (camelCase) spelling."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        if loc and loc[0] in _SOURCES:
            loc = loc[1:]
        field = ".".join(loc) or "body"
        got = error.get("input")
        shown = "" if error.get("type") == "missing" else f", got {got!r}"[:200]
        parts.append(f"{field}: {error.get('msg', 'invalid')}{shown}")
    return "; ".join(parts) or "the request is not valid"


def install_error_handlers(app: FastAPI) -> None:
    def answer(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"message": message, "detail": message}, status_code=status, headers=headers)

    @app.exception_handler(AuthError)
    async def _auth(_request: Request, exc: AuthError) -> JSONResponse:
        return answer(401, str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(PermissionDenied)
    async def _denied(_request: Request, exc: PermissionDenied) -> JSONResponse:
        return answer(403, str(exc))

    @app.exception_handler(DeploymentNotFound)
    async def _missing(_request: Request, exc: DeploymentNotFound) -> JSONResponse:
        return answer(404, str(exc))

    @app.exception_handler(NotFoundOrHidden)
    async def _hidden(_request: Request, exc: NotFoundOrHidden) -> JSONResponse:
        return answer(404, str(exc))

    @app.exception_handler(SettingsError)
    async def _settings(_request: Request, exc: SettingsError) -> JSONResponse:
        return answer(422, str(exc))

    @app.exception_handler(RegistryUnavailable)
    async def _registry(_request: Request, exc: RegistryUnavailable) -> JSONResponse:
        # A dependency is down, not the request wrong: 503, worth retrying later.
        return answer(503, str(exc), {"Retry-After": "30"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return answer(exc.status_code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        # ``detail`` keeps FastAPI's list (with ``loc``); ``message`` names each field in words.
        body = {"message": validation_message(errors), "detail": _jsonable(errors)}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return answer(500, f"internal error ({type(exc).__name__}); the server log has the details")


def _jsonable(errors: list[Any]) -> list[Any]:
    from fastapi.encoders import jsonable_encoder

    return list(jsonable_encoder(errors, custom_encoder={Exception: str}))
