"""``GET /api/v2/deployments/{id}/modelCard/``: the deployment's model card as HTML, Markdown or JSON.

The card is the one logged on the deployed version's MLflow run (made when the
version was registered or the model replaced, made again here when missing or
stale: see :mod:`airflow_mlops.deployments.model_card`). Any role that may read
the deployment may read its card. Included into the deployments router (same
prefix, same auth rules); the deployment JSON links it as ``modelCard.url``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api import schemas
from airflow_mlops.api.auth import Caller
from airflow_mlops.api.auth import authorized as authorize
from airflow_mlops.api.errors import error
from airflow_mlops.config import Settings

DeploymentId = Annotated[
    str, Path(pattern=schemas.ID_PATTERN, description="A deployment id (24 hex digits).")
]

#: Where a deployment's card is served, relative to the API root (the deployment JSON links it).
MODEL_CARD_PATH = "/api/v2/deployments/{deployment_id}/modelCard/"
_MEDIA = {"html": "text/html", "markdown": "text/markdown", "json": "application/json"}


def build_model_cards_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    url = settings.store_url

    @router.get(
        "/{deployment_id}/modelCard/",
        summary="The deployment's model card (HTML by default; Markdown or JSON with format=)",
        response_model=None,
        responses={
            200: {
                "description": "The card",
                "content": {media: {"schema": {"type": "string"}} for media in _MEDIA.values()},
            },
            422: error(
                "The deployed model's card cannot be made (e.g. a protected feature it does not have)"
            ),
        },
    )
    async def model_card(
        deployment_id: DeploymentId,
        principal: Caller,
        fmt: Literal["html", "markdown", "json"] = Query(
            default="html", alias="format", description="html, markdown or json"
        ),
    ) -> Response:
        deployment = await run_in_threadpool(authorize, url, deployment_id, principal, "read")
        try:
            text = await run_in_threadpool(deployment.get_model_card, fmt)
        except (LookupError, ValueError) as exc:
            return JSONResponse({"message": str(exc), "detail": str(exc)}, status_code=422)
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=60"}
        if fmt == "html":
            # The card has no scripts; a sandbox keeps it that way whatever a value on it says.
            return HTMLResponse(text, headers={**headers, "Content-Security-Policy": "sandbox"})
        return Response(text, media_type=f"{_MEDIA[fmt]}; charset=utf-8", headers=headers)

    return router
