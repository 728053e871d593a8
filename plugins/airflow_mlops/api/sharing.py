"""``…/sharedRoles/``: who holds which role on a deployment, and giving or taking roles.

DataRobot's client reads each entry's ``id``, ``name`` and
``shareRecipientType`` and may name a user by that ``id`` when it changes a
role; users here have names only, so the id is derived from the name
(:func:`airflow_mlops.api.schemas.recipient_id`) and resolved against the
deployment's current roles.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api import schemas
from airflow_mlops.api.auth import Caller
from airflow_mlops.api.auth import authorized as authorize
from airflow_mlops.api.paging import page
from airflow_mlops.config import Settings
from airflow_mlops.deployments import Deployment, SettingsError

DeploymentId = Annotated[
    str, Path(pattern=schemas.ID_PATTERN, description="A deployment id (24 hex digits).")
]


def build_sharing_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    url = settings.store_url

    async def authorized(deployment_id: str, principal: Any, action: str) -> Deployment:
        return await run_in_threadpool(authorize, url, deployment_id, principal, action)

    @router.get("/{deployment_id}/sharedRoles/", summary="Who has which role")
    async def shared_roles(
        request: Request,
        deployment_id: DeploymentId,
        principal: Caller,
        name: str | None = Query(default=None, max_length=256),
        id: str | None = Query(default=None, max_length=64),
        shareRecipientType: str | None = Query(default=None, pattern=r"^(user|group|organization)$"),
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:

        deployment = await authorized(deployment_id, principal, "read")
        roles = [schemas.shared_role_json(r) for r in await run_in_threadpool(deployment.list_shared_roles)]
        roles = [
            r
            for r in roles
            if (name is None or r["name"] == name)
            and (id is None or r["id"] == id)
            and shareRecipientType in (None, "user")  # only users hold roles here
        ]
        return page(request, roles, offset, limit)

    @router.patch("/{deployment_id}/sharedRoles/", status_code=204, summary="Share: give or take roles")
    async def share(
        deployment_id: DeploymentId, body: schemas.SharedRolesPatch, principal: Caller
    ) -> Response:
        deployment = await authorized(deployment_id, principal, "share")
        holders = {
            schemas.recipient_id(r["username"]): r["username"]
            for r in await run_in_threadpool(deployment.list_shared_roles)
        }
        for index, assignment in enumerate(body.roles):
            username = assignment.username
            if username is None:
                username = holders.get(str(assignment.id))
                if username is None:
                    raise SettingsError(
                        f"roles.{index}.id: no user with id {assignment.id!r} holds a role on this"
                        " deployment; give a new user a role by username"
                    )
            try:
                if assignment.role == "NO_ROLE":
                    with contextlib.suppress(LookupError):
                        await run_in_threadpool(deployment.unshare, username, actor=principal.name)
                else:
                    await run_in_threadpool(deployment.share, username, assignment.role, actor=principal.name)
            except ValueError as exc:
                raise SettingsError(f"roles: {exc}") from exc
        return Response(status_code=204)

    return router
