"""One mapping from our exceptions to HTTP answers, so no known failure becomes a 500.

Every error answer is JSON with a ``message`` (what the official ``datarobot``
client shows) and ``detail`` (FastAPI's key, kept for existing callers), and so
always carries a ``Content-Type``: the client's error handler reads it
unconditionally. :class:`ApiError` documents that body, and :data:`ERRORS` puts it
on every API route's 4xx answers in the OpenAPI document, so a client (and the
schemathesis fuzz) can check an error against the document too.
unconditionally.

While the store cannot be reached (a PostgreSQL restart), whatever needed it
answers 503 with a ``Retry-After`` header and a message naming the store and
saying to retry (:mod:`airflow_mlops.store.availability` decides what counts);
any other database error stays a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_mlops.api.auth import NotFoundOrHidden
from airflow_mlops.deployments import DeploymentNotFound, SettingsError
from airflow_mlops.errors import RegistryUnavailable
from airflow_mlops.security import AuthError, PermissionDenied
from airflow_mlops.store.availability import store_unreachable, unreachable_message

log = logging.getLogger(__name__)

#: FastAPI's 400 for a body it could not read (e.g. not UTF-8): a 422 naming the body here.
_UNREADABLE_BODY = "There was an error parsing the body"
#: Seconds a caller is asked to wait while the store is away (a restart takes a few).
STORE_RETRY_AFTER_S = 5

#: Where a parameter came from, as FastAPI's error ``loc`` starts; dropped from the field name.
_SOURCES = {"body", "query", "path", "header", "cookie"}


class ApiError(BaseModel):
    """The body of every error answer (4xx and 5xx)."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="What went wrong; for bad input, the field and what was expected.")
    detail: str | list[dict[str, Any]] = Field(
        description="The same message; for a request that fails validation, one entry per error "
        "with the field's location in ``loc`` (FastAPI's shape)."
    )


def error(description: str) -> dict[str, Any]:
    """One documented error answer: ``description`` and the :class:`ApiError` body."""
    return {"model": ApiError, "description": description}


#: The error answers any API route may give (a route adds its own, e.g. 413, or re-describes one).
ERRORS: dict[int | str, dict[str, Any]] = {
    401: error("No valid credential (missing, malformed, unknown, expired or revoked token)"),
    403: error("The caller's role on the resource does not allow this"),
    404: error("No such resource, or the caller has no role on it (the same answer)"),
    422: error("Bad input; the message names the field and what was expected"),
    503: error("The MLOps store cannot be reached; retry after the Retry-After header's seconds"),
}


def validation_message(errors: list[Any]) -> str:
    """``field: rule, got value`` for each error, the field in the caller's (camelCase) spelling."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":  # loc is ("body", <character>): name the body
            why = (error.get("ctx") or {}).get("error", "JSON decode error")
            parts.append(f"body: not valid JSON: {why} at character {error['loc'][-1]}")
            continue
        loc = [str(p) for p in error.get("loc", ())]
        if loc and loc[0] in _SOURCES:
            loc = loc[1:]
        field = ".".join(loc) or "body"
        got = error.get("input")
        shown = "" if error.get("type") == "missing" else f", got {got!r}"[:200]
        parts.append(f"{field}: {error.get('msg', 'invalid')}{shown}")
    return "; ".join(parts) or "the request is not valid"


def install_error_handlers(app: FastAPI, *, store_url: str | None = None) -> None:
    """Map our exceptions to answers; ``store_url`` names the store in the 503 while it is away."""

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
        if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
            # FastAPI's answer to a JSON body it cannot decode at all (not UTF-8): bad input, said so.
            return answer(422, "body: not valid JSON: expected a JSON document in UTF-8")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return answer(exc.status_code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        # ``detail`` keeps FastAPI's list (with ``loc``); ``message`` names each field in words.
        body = {"message": validation_message(errors), "detail": _jsonable(errors)}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if not store_unreachable(exc):
            return unexpected(request, exc)
        # Not logged per request: the model cache's watcher says once that the store is away.
        message = unreachable_message(store_url or "", exc)
        return answer(503, message, {"Retry-After": str(STORE_RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected(request, exc)

    def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
        return answer(500, f"internal error ({type(exc).__name__}); the server log has the details")


def _jsonable(errors: list[Any]) -> list[Any]:
    from fastapi.encoders import jsonable_encoder

    return list(jsonable_encoder(errors, custom_encoder={Exception: str}))
