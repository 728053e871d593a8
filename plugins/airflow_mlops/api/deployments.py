"""``/api/v2/deployments/…``: DataRobot's paths, camelCase JSON, ``{count, next, previous, data}`` pages.

Every route needs an authenticated caller; what it may do depends on its role
on the deployment (see :mod:`airflow_mlops.security.roles`). A deployment the
caller has no role on answers 404, not 403, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api import schemas
from airflow_mlops.api.auth import Caller, NotFoundOrHidden, access
from airflow_mlops.api.auth import authorized as authorize
from airflow_mlops.api.deployment_extras import build_extras_router
from airflow_mlops.api.errors import ERRORS
from airflow_mlops.api.model_cards import build_model_cards_router
from airflow_mlops.api.paging import page
from airflow_mlops.api.sharing import build_sharing_router
from airflow_mlops.api.status import accepted
from airflow_mlops.config import Settings
from airflow_mlops.deployments import ORDER_FIELDS, Deployment, DeploymentListFilters, deployment_overviews
from airflow_mlops.deployments.settings import default_settings
from airflow_mlops.enums import DEPLOYMENT_ROLE
from airflow_mlops.security import PermissionDenied, Principal, roles_of

DeploymentId = Annotated[
    str, Path(pattern=schemas.ID_PATTERN, description="A deployment id (24 hex digits).")
]

#: Rejecting needs no body; one may carry a note.
_NO_NOTE = schemas.RetrainingDecision()

#: What the OpenAPI document says of a ``Location`` DataRobot's client polls (``api.status``).
_LOCATION = {"Location": {"description": "GET it: 303 to the resource, the operation being already done"}}
#: OpenAPI links from a new deployment's ``id`` to what one does with it next (clients and the
#: stateful fuzz follow them: create, read, update, replace the model, share, deactivate, delete).
_NEXT = {
    "GetDeployment": ("/{deployment_id}/", "get"),
    "UpdateDeployment": ("/{deployment_id}/", "patch"),
    "ValidateReplacement": ("/{deployment_id}/model/validation/", "post"),
    "ReplaceModel": ("/{deployment_id}/model/", "patch"),
    "UpdateSettings": ("/{deployment_id}/settings/", "patch"),
    "ShareDeployment": ("/{deployment_id}/sharedRoles/", "patch"),
    "ChangeStatus": ("/{deployment_id}/status/", "patch"),
    "DeleteDeployment": ("/{deployment_id}/", "delete"),
}
_LINKS = {
    name: {
        "operationRef": "#/paths/" + f"/api/v2/deployments{path}".replace("/", "~1") + f"/{method}",
        "parameters": {"deployment_id": "$response.body#/id"},
    }
    for name, (path, method) in _NEXT.items()
}
CREATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Created", "headers": _LOCATION, "links": _LINKS}
}
ACCEPTED: dict[int | str, dict[str, Any]] = {202: {"description": "Done", "headers": _LOCATION}}

RequestId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{32}$", description="A retraining request id (32 hex digits).")
]


def _split(values: list[str] | None) -> list[str]:
    """Query lists may repeat the parameter or separate values with commas."""
    return [v for value in values or [] for v in value.split(",") if v]


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/api/v2/deployments", tags=["deployments"], responses=ERRORS)
    url = settings.store_url

    def authorized(deployment_id: str, principal: Principal, action: str) -> Deployment:
        return authorize(url, deployment_id, principal, action)

    def with_role(
        deployment_id: str, principal: Principal, action: str
    ) -> tuple[Deployment, DEPLOYMENT_ROLE]:
        return access(url, deployment_id, principal, action)

    def roles(principal: Principal) -> dict[str, DEPLOYMENT_ROLE] | None:
        """The caller's role per deployment (``None``: an administrator, OWNER of every one)."""
        return None if principal.is_admin else roles_of(url, principal)

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(fn, *args, **kwargs)

    def prediction_server(request: Request) -> str:
        """Where this deployment's predictions go: the configured URL, else the server the caller reached."""
        if settings.prediction_server_url:
            return settings.prediction_server_url
        return (str(request.base_url).rstrip("/") + request.scope.get("root_path", "")).rstrip("/")

    async def as_json(
        request: Request, deployment: Deployment, role: DEPLOYMENT_ROLE | None
    ) -> dict[str, Any]:
        overview = (await run(deployment_overviews, [deployment], url))[deployment.id]
        return schemas.deployment_json(deployment, role, overview, prediction_server(request))

    @router.get("/", summary="List deployments")
    async def list_deployments(
        request: Request,
        principal: Caller,
        search: str | None = Query(default=None, max_length=512, pattern=r"^[^\x00]*$"),
        orderBy: str = Query(default="label", pattern=r"^-?(" + "|".join(ORDER_FIELDS) + ")$"),
        role: list[str] | None = Query(default=None),
        serviceHealth: list[str] | None = Query(default=None),
        modelHealth: list[str] | None = Query(default=None),
        accuracyHealth: list[str] | None = Query(default=None),
        importance: list[str] | None = Query(default=None),
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=100, ge=1, le=1000),
        executionEnvironmentType: list[str] | None = Query(default=None, include_in_schema=False),
        tagKeys: list[str] | None = Query(default=None, include_in_schema=False),
        tagValues: list[str] | None = Query(default=None, include_in_schema=False),
        isA2AAgent: str | None = Query(default=None, include_in_schema=False),
    ) -> dict[str, Any]:
        from airflow_mlops.deployments import SettingsError

        # DataRobot filters with no counterpart: refused by name, not silently ignored.
        for name, given, why in (
            ("executionEnvironmentType", executionEnvironmentType, "there are no execution environments"),
            ("tagKeys", tagKeys, "deployments have no tags"),
            ("tagValues", tagValues, "deployments have no tags"),
            # ``false`` asks for what every deployment here is: not an agent.
            ("isA2AAgent", isA2AAgent != "false" and isA2AAgent, "there are no agent deployments"),
        ):
            if given:
                raise SettingsError(f"{name}: this filter is not supported: {why}")
        try:
            filters = DeploymentListFilters(
                role=_split(role),
                service_health=_split(serviceHealth),
                model_health=_split(modelHealth),
                accuracy_health=_split(accuracyHealth),
                importance=_split(importance),
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        items = await run(
            Deployment.list,
            search=search,
            order_by=orderBy,
            filters=filters,
            principal=principal,
            store_url=url,
        )
        held = await run(roles, principal)
        shown = items[offset : offset + limit]
        overviews = await run(deployment_overviews, shown, url)
        listed = page(request, items, offset, limit)
        listed["data"] = [
            schemas.deployment_json(
                d,
                DEPLOYMENT_ROLE.OWNER if held is None else held.get(d.id),
                overviews[d.id],
                prediction_server(request),
            )
            for d in shown
        ]
        return listed

    async def create_with(
        request: Request, field: str, factory: Callable[..., Deployment], *args: Any, **kwargs: Any
    ) -> JSONResponse:
        """Create through ``factory`` as the caller (who becomes OWNER); bad model ids are a 422 on ``field``."""
        from airflow_mlops.deployments import SettingsError

        principal: Principal = kwargs.pop("principal")
        status: str | None = kwargs.pop("status", None)
        try:
            deployment = await run(
                factory, *args, actor=principal.name, owners=[principal.name], store_url=url, **kwargs
            )
        except (LookupError, ValueError) as exc:
            raise SettingsError(f"{field}: {exc}") from exc
        if status == "inactive":  # DataRobot's create-inactive: deployed, then deactivated (both audited)
            await run(deployment.deactivate, actor=principal.name)
        body = await as_json(request, deployment, DEPLOYMENT_ROLE.OWNER)  # its creator owns it
        # 201 with the deployment, and a Location DataRobot's client polls (it always does after
        # fromModelPackage/): a status that is already done and redirects to the deployment.
        created = accepted(request, resource=f"deployments/{deployment.id}/", body=body)
        created.status_code = 201
        return created

    @router.post(
        "/fromModelPackage/",
        status_code=201,
        summary="Deploy a registered model version",
        response_model=None,
        responses=CREATED,
    )
    async def create(request: Request, body: schemas.DeploymentCreate, principal: Caller) -> JSONResponse:
        return await create_with(
            request,
            "modelPackageId",
            Deployment.create_from_registered_model_version,
            body.model_package_id,
            body.label,
            description=body.description,
            importance=body.importance,
            principal=principal,
        )

    @router.post(
        "/fromLearningModel/",
        status_code=201,
        summary="Deploy a sweep's leaderboard model (registered under registeredModelName, else the label)",
        response_model=None,
        responses=CREATED,
    )
    async def create_from_learning_model(
        request: Request, body: schemas.DeploymentFromLearningModel, principal: Caller
    ) -> JSONResponse:
        return await create_with(
            request,
            "modelId",
            Deployment.create_from_learning_model,
            body.model_id,
            body.label,
            registered_model_name=body.registered_model_name,
            description=body.description,
            importance=body.importance,
            status=body.status,
            principal=principal,
        )

    @router.get("/{deployment_id}/", summary="Get a deployment")
    async def get(request: Request, deployment_id: DeploymentId, principal: Caller) -> dict[str, Any]:
        return await as_json(request, *await run(with_role, deployment_id, principal, "read"))

    @router.patch("/{deployment_id}/", summary="Update label, description or importance")
    async def update(
        request: Request, deployment_id: DeploymentId, body: schemas.DeploymentUpdate, principal: Caller
    ) -> dict[str, Any]:
        deployment, role = await run(with_role, deployment_id, principal, "update")
        await run(
            deployment.update,
            label=body.label,
            description=body.description,
            importance=body.importance,
            actor=principal.name,
        )
        return await as_json(request, deployment, role)

    @router.delete("/{deployment_id}/", status_code=204, summary="Delete a deployment")
    async def delete(deployment_id: DeploymentId, principal: Caller) -> Response:
        deployment = await run(authorized, deployment_id, principal, "delete")
        await run(deployment.delete, actor=principal.name)
        return Response(status_code=204)

    @router.patch(
        "/{deployment_id}/status/",
        status_code=202,
        summary="Activate or deactivate (202: the deployment, and a Location that is already done)",
        response_model=None,
        responses=ACCEPTED,
    )
    async def set_status(
        request: Request, deployment_id: DeploymentId, body: schemas.StatusUpdate, principal: Caller
    ) -> JSONResponse:
        deployment, role = await run(with_role, deployment_id, principal, "update")
        change = deployment.activate if body.status == "active" else deployment.deactivate
        await run(change, actor=principal.name)
        body_json = await as_json(request, deployment, role)
        return accepted(request, resource=f"deployments/{deployment.id}/", body=body_json)

    @router.post("/{deployment_id}/model/validation/", summary="Can this model replace the current one?")
    async def validate(
        deployment_id: DeploymentId, body: schemas.ModelValidation, principal: Caller
    ) -> dict[str, Any]:
        deployment = await run(authorized, deployment_id, principal, "read")
        status, message, checks = await run(
            deployment.validate_replacement_model, body.new_model, principal=principal
        )
        return {"status": status, "message": message, "checks": checks}

    @router.patch(
        "/{deployment_id}/model/",
        status_code=202,
        summary="Replace the deployment's model, with a reason (202: the deployment, and a done Location)",
        response_model=None,
        responses=ACCEPTED,
    )
    async def replace(
        request: Request, deployment_id: DeploymentId, body: schemas.ModelReplacement, principal: Caller
    ) -> JSONResponse:
        from airflow_mlops.deployments import SettingsError

        deployment, role = await run(with_role, deployment_id, principal, "replace")
        try:
            await run(deployment.replace_model, body.new_model, body.reason, principal=principal)
        except PermissionDenied:
            raise
        except ValueError as exc:
            field = "modelId" if body.model_id is not None else "modelPackageId"
            raise SettingsError(f"{field}: {exc}") from exc
        body_json = await as_json(request, deployment, role)
        return accepted(request, resource=f"deployments/{deployment.id}/", body=body_json)

    @router.get("/{deployment_id}/modelHistory/", summary="Every model the deployment served, and why")
    async def model_history(
        request: Request,
        deployment_id: DeploymentId,
        principal: Caller,
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        deployment = await run(authorized, deployment_id, principal, "read")
        items = [
            {
                "oldModelVersion": h["old_model_version"],
                "newModelVersion": h["new_model_version"],
                "reason": h["reason"],
                "actor": h["actor"],
                "timestamp": h["timestamp"],
                "details": h["details"],
            }
            for h in await run(deployment.get_model_history)
        ]
        return page(request, items, offset, limit)

    async def get_settings(deployment_id: DeploymentId, principal: Caller) -> dict[str, Any]:
        deployment = await run(authorized, deployment_id, principal, "read")
        return schemas.settings_json(deployment.settings)

    async def patch_settings(
        request: Request, deployment_id: DeploymentId, body: schemas.SettingsPatch, principal: Caller
    ) -> JSONResponse:
        deployment = await run(authorized, deployment_id, principal, "settings")
        settings_after = await run(deployment.update_settings, body.to_patch(), actor=principal.name)
        return accepted(
            request,
            resource=f"deployments/{deployment.id}/settings/",
            body=schemas.settings_json(settings_after),
        )

    router.get("/{deployment_id}/settings/", summary="Deployment settings")(get_settings)
    router.patch(
        "/{deployment_id}/settings/",
        status_code=202,
        summary="Change deployment settings, all or nothing (202: the settings, and a done Location)",
        response_model=None,
        responses=ACCEPTED,
    )(patch_settings)
    # DataRobot's client reads and writes bias-and-fairness settings at ``deployments//{id}/settings/``
    # (a doubled slash in its path); the same routes answer there, out of the schema.
    router.get("//{deployment_id}/settings/", include_in_schema=False)(get_settings)
    router.patch("//{deployment_id}/settings/", status_code=202, include_in_schema=False)(patch_settings)

    @router.get("/{deployment_id}/healthSettings/", summary="Health settings")
    async def get_health(deployment_id: DeploymentId, principal: Caller) -> dict[str, Any]:
        deployment = await run(authorized, deployment_id, principal, "read")
        return schemas.health_settings_json(deployment.settings)

    @router.get(
        "/{deployment_id}/healthSettings/defaults/", summary="Health settings a new deployment starts with"
    )
    async def get_default_health(deployment_id: DeploymentId, principal: Caller) -> dict[str, Any]:
        await run(authorized, deployment_id, principal, "read")
        return schemas.health_settings_json(default_settings())

    @router.patch("/{deployment_id}/healthSettings/", summary="Change health settings")
    async def patch_health(
        deployment_id: DeploymentId, body: schemas.HealthSettingsPatch, principal: Caller
    ) -> dict[str, Any]:
        deployment = await run(authorized, deployment_id, principal, "settings")
        patch = body.to_patch()
        await run(deployment.update_health_settings, **patch, actor=principal.name)
        return schemas.health_settings_json(deployment.settings)

    router.include_router(build_sharing_router(settings))

    @router.get(
        "/{deployment_id}/auditLog/", summary="Every change to the deployment: who, when, before, after"
    )
    async def audit(
        request: Request,
        deployment_id: DeploymentId,
        principal: Caller,
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        deployment = await run(authorized, deployment_id, principal, "read")
        return page(request, await run(deployment.get_audit_log), offset, limit)

    router.include_router(build_extras_router(settings))
    router.include_router(build_model_cards_router(settings))

    # ---- the closed loop: retraining requests -----------------------------------------------
    def request_json(r: Any) -> dict[str, Any]:
        return {to_camel(k): v for k, v in r.to_dict().items()}

    def request_of(deployment: Deployment, request_id: str) -> Any:
        from airflow_mlops.retraining import get_request

        try:
            found = get_request(request_id, store_url=url)
        except LookupError:
            found = None
        if found is None or found.deployment_id != deployment.id:
            raise NotFoundOrHidden(f"no retraining request {request_id!r} on deployment {deployment.id}")
        return found

    def conflict(exc: Exception) -> JSONResponse:
        return JSONResponse({"message": str(exc), "detail": str(exc)}, status_code=409)

    @router.get(
        "/{deployment_id}/retrainingRequests/",
        summary="Retraining requests and what came of them (scores, decision), newest first",
    )
    async def retraining_requests(
        request: Request,
        deployment_id: DeploymentId,
        principal: Caller,
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        from airflow_mlops.retraining import list_requests

        deployment = await run(authorized, deployment_id, principal, "read")
        items = [request_json(r) for r in await run(list_requests, deployment.id, store_url=url)]
        return page(request, items, offset, limit)

    @router.post(
        "/{deployment_id}/retrainingRequests/",
        status_code=202,
        summary="Ask for a retrain (reason OTHER by default, with a note); mlops_refresh dispatches it",
    )
    async def create_retraining_request(
        deployment_id: DeploymentId, body: schemas.RetrainingRequestCreate, principal: Caller
    ) -> dict[str, Any]:
        from airflow_mlops.retraining import request_retraining

        deployment = await run(authorized, deployment_id, principal, "replace")
        created = await run(
            request_retraining,
            deployment.id,
            body.reason,
            evidence={"note": body.note} if body.note else {},
            origin="user",
            actor=principal.name,
            store_url=url,
        )
        return request_json(created)

    @router.post(
        "/{deployment_id}/retrainingRequests/{request_id}/approve/",
        summary="Approve a waiting challenger: it replaces the champion with the request's reason",
        response_model=None,
    )
    async def approve_retraining(
        deployment_id: DeploymentId, request_id: RequestId, principal: Caller
    ) -> dict[str, Any] | JSONResponse:
        from airflow_mlops.deployments import SettingsError
        from airflow_mlops.retraining import RequestStateError
        from airflow_mlops.services import approve_request

        deployment = await run(authorized, deployment_id, principal, "replace")
        await run(request_of, deployment, request_id)
        try:
            done = await run(
                approve_request, request_id, actor=principal.name, principal=principal, store_url=url
            )
        except RequestStateError as exc:
            return conflict(exc)
        except PermissionDenied:
            raise
        except ValueError as exc:
            raise SettingsError(f"challenger: {exc}") from exc
        return request_json(done)

    @router.post(
        "/{deployment_id}/retrainingRequests/{request_id}/reject/",
        summary="Reject a waiting challenger: the champion stays",
        response_model=None,
    )
    async def reject_retraining(
        deployment_id: DeploymentId,
        request_id: RequestId,
        principal: Caller,
        body: Annotated[schemas.RetrainingDecision, Body()] = _NO_NOTE,
    ) -> dict[str, Any] | JSONResponse:
        from airflow_mlops.retraining import RequestStateError, reject_request

        deployment = await run(authorized, deployment_id, principal, "replace")
        await run(request_of, deployment, request_id)
        try:
            done = await run(
                reject_request,
                request_id,
                actor=principal.name,
                note=body.note,
                store_url=url,
            )
        except RequestStateError as exc:
            return conflict(exc)
        return request_json(done)

    return router
