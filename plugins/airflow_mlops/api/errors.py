"""One mapping from our exceptions to HTTP answers, so no known failure becomes a 500."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from airflow_mlops.api.auth import NotFoundOrHidden
from airflow_mlops.deployments import DeploymentNotFound, SettingsError
from airflow_mlops.security import AuthError, PermissionDenied


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
