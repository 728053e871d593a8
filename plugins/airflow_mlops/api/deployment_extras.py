"""DataRobot deployment sub-resources the official client reads, answered honestly.

Some have a counterpart here and are mapped onto it (``retrainingSettings/``:
the dataset is our retraining policy's ``source``); the others describe
features this server does not have (challenger models receiving replayed
predictions, segment analysis), so they read as empty or off, and asking to
turn one on is a 422 naming it — never a silent success, never a 500.
Included into the deployments router (same prefix, same auth rules).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api import schemas
from airflow_mlops.api.auth import Caller
from airflow_mlops.api.auth import authorized as authorize
from airflow_mlops.config import Settings
from airflow_mlops.deployments import Deployment, SettingsError

DeploymentId = Annotated[
    str, Path(pattern=schemas.ID_PATTERN, description="A deployment id (24 hex digits).")
]

CHALLENGER_REPLAY = (
    "challenger replay is not supported: a retraining request scores its challenger against the"
    " champion on fresh data instead (retrainingRequests/)"
)


class ChallengerReplayPatch(schemas.Body):
    enabled: bool
    schedule: dict[str, Any] | None = None


class RetrainingSettingsPatch(schemas.Body):
    """DataRobot's retraining settings; only the dataset has a counterpart (the policy's ``source``)."""

    retraining_user_id: str | None = Field(default=None, alias="retrainingUserId", max_length=256)
    dataset_id: str | None = Field(default=None, alias="datasetId", min_length=1, max_length=4096)
    prediction_environment_id: str | None = Field(
        default=None, alias="predictionEnvironmentId", max_length=256
    )


def retraining_settings_json(policy: dict[str, Any]) -> dict[str, Any]:
    """DataRobot's ``retrainingSettings/`` shape from our retraining policy.

    Retrains run as the ``mlops_retrain`` DAG, not as a user, and there are no
    prediction environments, so those two are null; the dataset is the
    policy's ``source`` (a path or URL, which is its id and its name).
    """
    source = policy.get("source")
    return {
        "retrainingUser": None,
        "dataset": {"id": source, "name": source} if source else None,
        "predictionEnvironment": None,
    }


def build_extras_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    url = settings.store_url

    async def authorized(deployment_id: str, principal: Any, action: str) -> Deployment:
        return await run_in_threadpool(authorize, url, deployment_id, principal, action)

    @router.get("/{deployment_id}/challengers/", summary="DataRobot's challenger models: none here")
    async def challengers(request: Request, deployment_id: DeploymentId, principal: Caller) -> dict[str, Any]:
        await authorized(deployment_id, principal, "read")
        return {"count": 0, "totalCount": 0, "next": None, "previous": None, "data": []}

    @router.get(
        "/{deployment_id}/challengerReplaySettings/", summary="DataRobot's challenger replay: always off"
    )
    async def get_challenger_replay(deployment_id: DeploymentId, principal: Caller) -> dict[str, Any]:
        await authorized(deployment_id, principal, "read")
        return {"enabled": False, "schedule": None}

    @router.patch(
        "/{deployment_id}/challengerReplaySettings/",
        summary="Turning challenger replay off is a no-op; on is refused (422)",
    )
    async def patch_challenger_replay(
        deployment_id: DeploymentId, body: ChallengerReplayPatch, principal: Caller
    ) -> dict[str, Any]:
        await authorized(deployment_id, principal, "settings")
        if body.enabled:
            raise SettingsError(f"enabled: {CHALLENGER_REPLAY}")
        return {"enabled": False, "schedule": None}

    @router.get(
        "/{deployment_id}/segmentAttributes/", summary="DataRobot's segment attributes: none (not tracked)"
    )
    async def segment_attributes(deployment_id: DeploymentId, principal: Caller) -> dict[str, Any]:
        await authorized(deployment_id, principal, "read")
        return {"data": []}

    @router.get("/{deployment_id}/retrainingSettings/", summary="DataRobot's retraining settings")
    async def get_retraining(deployment_id: DeploymentId, principal: Caller) -> dict[str, Any]:
        deployment = await authorized(deployment_id, principal, "read")
        return retraining_settings_json(deployment.settings["retraining"])

    @router.patch(
        "/{deployment_id}/retrainingSettings/",
        summary="Set the retraining dataset (our policy's source); users and environments are refused",
    )
    async def patch_retraining(
        deployment_id: DeploymentId, body: RetrainingSettingsPatch, principal: Caller
    ) -> dict[str, Any]:
        deployment = await authorized(deployment_id, principal, "settings")
        if body.retraining_user_id is not None:
            raise SettingsError(
                "retrainingUserId: retrains run as the mlops_retrain DAG, not as a user; leave it out or null"
            )
        if body.prediction_environment_id is not None:
            raise SettingsError(
                "predictionEnvironmentId: prediction environments are not supported; leave it out or null"
            )
        if "dataset_id" in body.model_fields_set:
            await run_in_threadpool(
                deployment.update_retraining_settings, source=body.dataset_id, actor=principal.name
            )
        return retraining_settings_json(deployment.settings["retraining"])

    return router
