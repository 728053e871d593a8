"""DataRobot's asynchronous-operation protocol: ``202`` + ``Location``, then ``GET status/{id}/``.

The official ``datarobot`` client answers every long operation (replace a
model, submit actuals, upload a project) by polling the ``Location`` it got:
``303`` means done and points at the resource, ``200`` with ``status`` reports
progress (``COMPLETED``, or ``ERROR``/``ABORTED``, which it raises). Our
operations finish inside the request, so the status needs no table: its id
is the outcome itself, base64url-encoded JSON, and the poll answers at once
(the client never sleeps). A forged id can only redirect to a path under
``/api/v2/`` — which still checks the caller — or echo its own payload.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from airflow_mlops.api.auth import Caller
from airflow_mlops.api.errors import ERRORS
from airflow_mlops.deployments import SettingsError

API_PREFIX = "/api/v2/"


def _encode(outcome: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(outcome)).decode().rstrip("=")


def _decode(status_id: str) -> dict[str, Any]:
    try:
        outcome = orjson.loads(base64.urlsafe_b64decode(status_id + "=" * (-len(status_id) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise SettingsError(f"statusId: {status_id!r} is not a status this server issued") from exc
    if not isinstance(outcome, dict) or not (
        isinstance(outcome.get("resource"), str) or isinstance(outcome.get("result"), dict)
    ):
        raise SettingsError(f"statusId: {status_id!r} is not a status this server issued")
    return outcome


def api_url(request: Request, path: str) -> str:
    """An absolute URL for ``path`` (relative to ``/api/v2/``) on the server the caller reached."""
    root = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
    return f"{root.rstrip('/')}{API_PREFIX}{path.lstrip('/')}"


def accepted(
    request: Request,
    *,
    resource: str | None = None,
    result: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> JSONResponse:
    """``202`` whose ``Location`` is a status that is already done.

    ``resource`` (a path under ``/api/v2/``, e.g. ``deployments/{id}/``): the
    poll answers ``303`` to it. ``result``: the poll answers ``200`` with
    ``status: COMPLETED`` and these fields. ``body`` is this answer's own JSON.
    """
    if (resource is None) == (result is None):
        raise ValueError("give exactly one of resource and result")
    outcome: dict[str, Any] = {"resource": resource} if resource is not None else {"result": result}
    location = api_url(request, f"status/{_encode(outcome)}/")
    return JSONResponse(body or {}, status_code=202, headers={"Location": location})


def build_status_router() -> APIRouter:
    router = APIRouter(prefix="/api/v2", tags=["status"], responses=ERRORS)

    @router.get(
        "/status/{status_id}/",
        summary="Poll an asynchronous operation: 303 to its resource when done, else its status",
        response_model=None,
        responses={303: {"description": "Done: Location is the resource"}},
    )
    async def status(
        request: Request,
        principal: Caller,
        status_id: str = Path(max_length=4096, pattern=r"^[A-Za-z0-9_-]+$"),
    ) -> Response:
        outcome = _decode(status_id)
        resource = outcome.get("resource")
        if isinstance(resource, str):
            if resource.startswith(("/", "\\")) or "://" in resource or ".." in resource:
                raise SettingsError(f"statusId: {status_id!r} is not a status this server issued")
            return Response(status_code=303, headers={"Location": api_url(request, resource)})
        return JSONResponse({"status": "COMPLETED", **outcome["result"]})

    return router
