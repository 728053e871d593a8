"""``/api/v2/projects/…``: DataRobot's AutoML projects, so its getting-started script runs unchanged.

What the official ``datarobot`` client sends, and what we answer:

* ``Project.create(sourcedata, project_name)`` → ``POST projects/`` (multipart
  ``file`` + ``projectName``, or JSON ``url`` + ``projectName``) → ``202`` whose
  ``Location`` polls to ``303 projects/{id}/`` (the upload is read in the
  request, so the poll answers at once) → ``GET projects/{id}/``.
* ``set_target``/``analyze_and_model`` → ``GET projects/{id}/options/`` (no
  stored options: ``{}``), ``PATCH projects/{id}/aim/`` → ``202`` → ``303``.
* ``wait_for_autopilot`` → ``GET projects/{id}/modelJobs/`` (the sweep, as one
  job, while it is queued or running), ``GET projects/{id}/status/`` until
  ``autopilotDone``, and ``GET projects/{id}/`` (``autopilotMode`` 0, 3 or 4).
* ``get_models`` → ``GET projects/{id}/models/``: the sweep's leaderboard,
  best first; each model's ``id`` is its trial's MLflow run id, the id
  ``deployments/fromLearningModel/`` takes.

DataRobot concepts with no counterpart here (feature lists, blueprints,
datetime partitioning, …) answer 404 or 422 naming the concept, never 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from airflow_mlops.api.auth import Caller
from airflow_mlops.api.errors import ERRORS, error
from airflow_mlops.api.project_schemas import (
    UNSUPPORTED,
    AimBody,
    ProjectUpdate,
    model_json,
    project_json,
    unsupported_aim_options,
)
from airflow_mlops.api.status import accepted
from airflow_mlops.config import Settings
from airflow_mlops.services.project_runners import get_runner, reconcile
from airflow_mlops.services.projects import (
    Project,
    ProjectInputError,
    ProjectNotFound,
    create_project,
    delete_project,
    get_project,
    list_projects,
    project_leaderboard,
    rename_project,
    set_target,
)

__all__ = ["build_projects_router"]

ProjectId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="The project's id (24 hex digits).")]
ModelId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A sweep trial's MLflow run id.")]


def build_projects_router(settings: Settings, *, default_runner: str = "local") -> APIRouter:
    router = APIRouter(
        prefix="/api/v2/projects",
        tags=["projects"],
        responses={
            **ERRORS,
            404: error("No such project, or not the caller's (the same answer)"),
            422: error("Bad input, or a DataRobot concept we lack; the message names it"),
        },
    )

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` off the event loop; our errors become 404 and 422 with their message."""
        try:
            return await run_in_threadpool(fn, *args, **kwargs)
        except ProjectNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except ProjectInputError as exc:
            raise HTTPException(422, str(exc)) from exc

    def current(project_id: str, principal: Any) -> Project:
        """The caller's project, its state reconciled with its worker's process."""
        return reconcile(get_project(project_id, settings=settings, principal=principal), settings)

    async def leaderboard(project_id: str, principal: Any) -> tuple[Project, list[dict[str, Any]]]:
        project: Project = await call(current, project_id, principal)
        if project.status == "failed":
            raise HTTPException(
                422, f"project {project.id!r}: Autopilot failed, so it has no models: {project.error}"
            )
        frame: pd.DataFrame = await call(project_leaderboard, project, settings)
        rows = [dict(r) for r in frame.to_dict(orient="records") if r.get("run_id")]
        return project, rows

    @router.post(
        "/",
        status_code=202,
        summary="Create a project from an upload (multipart 'file') or a 'url'",
        responses={202: {"description": "Location: a status that redirects to the project"}},
    )
    async def create(request: Request, principal: Caller) -> Response:
        upload: UploadFile | None = None
        url: str | None = None
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            name = form.get("projectName")
            file = form.get("file")
            if isinstance(file, UploadFile):
                upload = file
            elif isinstance(form.get("url"), str):
                url = str(form.get("url"))
        else:
            try:
                body = await request.json()
            except ValueError:
                raise HTTPException(422, "body: expected multipart 'file' or JSON with 'url'") from None
            if not isinstance(body, dict):
                raise HTTPException(422, "body: expected a JSON object with 'projectName' and 'url'")
            name, url = body.get("projectName"), body.get("url")
            if "dataSourceId" in body or "datasetId" in body:
                raise HTTPException(
                    422,
                    "dataSourceId/datasetId: DataRobot's data sources and AI Catalog have no counterpart; "
                    "upload a file or give a url",
                )
        if name is None:
            name = "Untitled Project"
        if not isinstance(name, str) or not name.strip() or len(name) > 512:
            raise HTTPException(422, "projectName: must be a non-empty string of at most 512 characters")
        if upload is None and not (isinstance(url, str) and url):
            raise HTTPException(422, "file: upload a file (multipart field 'file') or give a 'url'")
        project: Project = await call(
            create_project,
            name=name,
            owner=principal.name,
            settings=settings,
            upload=upload.file if upload is not None else None,
            file_name=upload.filename if upload is not None else None,
            url=url if upload is None else None,
        )
        return accepted(request, resource=f"projects/{project.id}/", body={"pid": project.id})

    @router.get("/", summary="List the caller's projects (every project for an admin)")
    async def list_all(
        principal: Caller,
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=1000, ge=0, le=1000),
        projectName: str | None = Query(default=None, max_length=512),
        project_name: str | None = Query(default=None, max_length=512, description="The client's spelling."),
    ) -> list[dict[str, Any]]:
        projects: list[Project] = await call(list_projects, settings=settings, principal=principal)
        search = projectName or project_name
        if search:
            projects = [p for p in projects if search.lower() in p.name.lower()]
        shown = projects[offset:] if limit == 0 else projects[offset : offset + limit]
        return [project_json(p) for p in shown]

    @router.get("/{project_id}/", summary="Get a project")
    async def get(project_id: ProjectId, principal: Caller) -> dict[str, Any]:
        return project_json(await call(current, project_id, principal))

    @router.patch("/{project_id}/", summary="Rename; workerCount is accepted (one worker per sweep)")
    async def patch(project_id: ProjectId, body: ProjectUpdate, principal: Caller) -> dict[str, Any]:
        if body.holdout_unlocked is False:
            raise HTTPException(
                422, "holdoutUnlocked: locking the holdout has no counterpart; it is always unlocked"
            )
        project = await call(
            rename_project,
            project_id,
            settings=settings,
            principal=principal,
            name=body.project_name,
            description=body.project_description,
        )
        return project_json(project)

    @router.delete("/{project_id}/", status_code=204, summary="Delete a project (its snapshot and runs stay)")
    async def delete(project_id: ProjectId, principal: Caller) -> Response:
        await call(delete_project, project_id, settings=settings, principal=principal)
        return Response(status_code=204)

    @router.get("/{project_id}/options/", summary="Advanced options: none are stored ({})")
    async def options(project_id: ProjectId, principal: Caller) -> dict[str, Any]:
        await call(get_project, project_id, settings=settings, principal=principal)
        return {}

    @router.patch(
        "/{project_id}/aim/",
        status_code=202,
        summary="Set the target and start Autopilot (our sweep, in a worker process)",
        responses={202: {"description": "Location: a status that redirects to the project"}},
    )
    async def aim(request: Request, project_id: ProjectId, body: AimBody, principal: Caller) -> Response:
        unsupported = unsupported_aim_options(body)
        if unsupported:
            raise HTTPException(422, f"{', '.join(unsupported)}: not supported by airflow-mlops")
        await call(
            set_target,
            project_id,
            target=body.target,
            settings=settings,
            principal=principal,
            mode=body.mode,
            metric=body.metric,
            target_type=body.target_type,
            runner=await call(get_runner, default=default_runner),
        )
        return accepted(request, resource=f"projects/{project_id}/")

    @router.get("/{project_id}/status/", summary="Autopilot's progress: stage and autopilotDone")
    async def status(project_id: ProjectId, principal: Caller) -> dict[str, Any]:
        project: Project = await call(current, project_id, principal)
        descriptions = {
            "created": "Ready to set target",
            "queued": "Autopilot queued",
            "running": "Autopilot running",
            "done": "Autopilot finished",
            "failed": f"Autopilot failed: {project.error}",
        }
        return {
            "autopilotDone": project.autopilot_done,
            "stage": "aim" if project.status == "created" else "modeling",
            "stageDescription": descriptions.get(project.status, project.status),
            "autopilotStatus": project.status,
            "error": project.error,
        }

    @router.get("/{project_id}/modelJobs/", summary="The sweep as one job while it is queued or running")
    async def model_jobs(
        project_id: ProjectId, principal: Caller, status: str | None = Query(default=None, max_length=32)
    ) -> list[dict[str, Any]]:
        project: Project = await call(current, project_id, principal)
        state = {"queued": "queue", "running": "inprogress"}.get(project.status)
        if state is None or (status is not None and status != state):
            return []
        return [
            {
                "id": 1,
                "status": state,
                "projectId": project.id,
                "isBlocked": False,
                "modelType": f"AutoML sweep ({project.mode})",
                "blueprintId": "automl-sweep",  # the client builds a Blueprint from every job
                "processes": ["Optuna search over the registered model families"],
                "samplePct": 100.0,
            }
        ]

    @router.get("/{project_id}/models/", summary="The leaderboard, best first (trial run ids as model ids)")
    async def models(
        project_id: ProjectId,
        principal: Caller,
        orderBy: str | None = Query(default=None, max_length=64),
        withMetric: str | None = Query(default=None, max_length=64),
        name: str | None = Query(default=None, max_length=256),
    ) -> list[dict[str, Any]]:
        if orderBy is not None and orderBy.lstrip("-") not in ("metric", "samplePct", "sample_pct"):
            raise HTTPException(422, f"orderBy: {orderBy!r} is not valid; expected metric or samplePct")
        project, rows = await leaderboard(project_id, principal)
        listed = [model_json(project, row) for row in rows]
        if name:
            listed = [m for m in listed if name.lower() in m["modelType"].lower()]
        if withMetric:
            for model in listed:
                model["metrics"] = {k: v for k, v in model["metrics"].items() if k == withMetric}
        return listed

    @router.get("/{project_id}/models/{model_id}/", summary="One leaderboard model")
    async def model(project_id: ProjectId, model_id: ModelId, principal: Caller) -> dict[str, Any]:
        project, rows = await leaderboard(project_id, principal)
        for row in rows:
            if row["run_id"] == model_id:
                return model_json(project, row)
        raise HTTPException(404, f"project {project_id!r} has no model with id {model_id!r}")

    @router.api_route(
        "/{project_id}/{concept}/{rest:path}",
        methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        summary="DataRobot project routes without a counterpart here: 404 naming the concept",
        include_in_schema=False,
    )
    async def unsupported(project_id: ProjectId, concept: str, rest: str, principal: Caller) -> Response:
        await call(get_project, project_id, settings=settings, principal=principal)
        what = UNSUPPORTED.get(concept)
        message = (
            f"projects/{project_id}/{concept}/: {what} — a DataRobot concept with no counterpart in airflow-mlops"
            if what
            else f"projects/{project_id}/{concept}/ is not a project route airflow-mlops serves"
        )
        raise HTTPException(404, message)

    return router
