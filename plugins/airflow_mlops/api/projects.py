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

import math
from collections.abc import Callable
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import Field, create_model
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from airflow_mlops.api.auth import Caller
from airflow_mlops.api.schemas import Body
from airflow_mlops.api.status import accepted
from airflow_mlops.config import Settings
from airflow_mlops.services.project_runners import get_runner, reconcile
from airflow_mlops.services.projects import (
    AUTOPILOT_MODE_NUMBERS,
    TARGET_TYPES,
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

__all__ = ["build_projects_router", "model_json", "project_json"]

ProjectId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$", description="The project's id (24 hex digits).")]
ModelId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A sweep trial's MLflow run id.")]

#: How each family reads on a leaderboard (DataRobot's ``modelType`` names the algorithm).
FAMILY_NAMES = {
    "linear": "Regularized Linear Model",
    "random_forest": "Random Forest",
    "extra_trees": "Extra Trees",
    "hist_gradient_boosting": "Histogram Gradient Boosted Trees",
    "lightgbm": "LightGBM Gradient Boosted Trees",
    "xgboost": "eXtreme Gradient Boosted Trees",
    "knn": "k-Nearest Neighbors",
}

#: DataRobot project routes we do not serve, and the concept each belongs to.
UNSUPPORTED = {
    "featurelists": "feature lists",
    "modelingFeaturelists": "feature lists",
    "features": "feature lists (a project's features are its snapshot's columns)",
    "modelingFeatures": "feature lists (a project's features are its snapshot's columns)",
    "blueprints": "blueprints (our counterpart is a model family: see each model's modelFamily)",
    "datetimePartitioning": "datetime partitioning (the holdout is a stratified share of the rows)",
    "partitioning": "custom partitioning (the holdout is a stratified share of the rows)",
    "blenderModels": "blenders",
    "primeModels": "DataRobot Prime",
    "ratingTableModels": "rating tables",
    "predictionDatasets": "project predictions (deploy a model and predict through the deployment)",
    "predictJobs": "project predictions (deploy a model and predict through the deployment)",
    "recommendedModels": "model recommendations (the leaderboard's first model is the best)",
    "autopilot": "pausing and resuming Autopilot",
    "jobs": "the project job queue (GET projects/{id}/modelJobs/ shows the sweep)",
}

#: DataRobot options ``PATCH aim`` may carry that name a concept we lack: each is refused, naming it.
AIM_CONCEPTS = {
    "featurelistId": "feature lists",
    "cvMethod": "custom partitioning",
    "validationType": "custom partitioning",
    "reps": "custom partitioning",
    "holdoutPct": "custom partitioning",
    "validationPct": "custom partitioning",
    "userPartitionCol": "custom partitioning",
    "partitionKeyCols": "custom partitioning",
    "datetimePartitionColumn": "datetime partitioning",
    "useTimeSeries": "time series projects",
    "unsupervisedMode": "unsupervised projects",
    "unsupervisedType": "unsupervised projects",
    "weights": "row weights",
    "offset": "offsets",
    "exposure": "exposure",
    "eventsCount": "event counts",
    "responseCap": "response capping",
    "smartDownsampled": "smart downsampling",
    "majorityDownsamplingRate": "smart downsampling",
    "blueprintThreshold": "blueprints",
    "blendBestModels": "blenders",
    "scoringCodeOnly": "scoring code",
    "prepareModelForDeployment": "model preparation for deployment",
    "relationshipsConfigurationId": "feature discovery",
    "credentials": "feature discovery",
    "featureEngineeringPredictionPoint": "feature discovery",
    "segmentationTaskId": "segmented modeling",
    "useGpu": "GPU workers",
}


class _AimBase(Body):
    target: str = Field(min_length=1, max_length=256, description="The column to predict.")
    mode: str | None = Field(
        default=None, max_length=32, description="quick (default), auto or comprehensive."
    )
    metric: str | None = Field(
        default=None, max_length=64, description="One of our metric names (AUC, LogLoss, RMSE, ...)."
    )
    target_type: str | None = Field(
        default=None, alias="targetType", max_length=32, description="Binary, Multiclass or Regression."
    )
    positive_class: str | int | float | None = Field(
        default=None, alias="positiveClass", description="Refused: the positive class is the larger label."
    )
    autopilot_with_feature_discovery: bool | None = Field(
        default=None, alias="autopilotWithFeatureDiscovery", description="Only false: no feature discovery."
    )
    use_supervised_feature_reduction: bool | None = Field(
        default=None,
        alias="useSupervisedFeatureReduction",
        description="Sent by the client by default; ignored (no feature discovery).",
    )


#: ``PATCH projects/{id}/aim/``: the target and how hard to search; DataRobot's other options are
#: declared so that each is refused naming its concept (unknown fields are refused as everywhere).
AimBody: Any = create_model(  # type: ignore[call-overload]
    "AimBody",
    __base__=_AimBase,
    **{
        key: (Any, Field(default=None, description=f"Refused: {concept}."))
        for key, concept in AIM_CONCEPTS.items()
    },
)


def _unsupported_aim_options(body: Any) -> list[str]:
    named = [
        f"{key} ({concept})"
        for key, concept in AIM_CONCEPTS.items()
        if getattr(body, key) not in (None, [], {}, False)
    ]
    if body.autopilot_with_feature_discovery:
        named.append("autopilotWithFeatureDiscovery (feature discovery)")
    if body.positive_class is not None:
        named.append("positiveClass (choosing the positive class: ours is the larger label)")
    return named


class ProjectUpdate(Body):
    """``PATCH projects/{id}/``: what the client's ``rename``, ``set_worker_count`` and ``unlock_holdout`` send."""

    project_name: str | None = Field(default=None, alias="projectName", min_length=1, max_length=512)
    project_description: str | None = Field(default=None, alias="projectDescription", max_length=10_000)
    worker_count: int | None = Field(
        default=None,
        alias="workerCount",
        ge=-1,
        le=1024,
        description="Accepted and without effect: a project's sweep runs in one worker.",
    )
    holdout_unlocked: bool | None = Field(
        default=None, alias="holdoutUnlocked", description="Only true: the holdout is never locked here."
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def project_json(project: Project) -> dict[str, Any]:
    """DataRobot's project shape, with what DataRobot has and we lack as null and our own state added."""
    aimed = project.status != "created"
    classification = project.target_type in ("binary", "multiclass")
    return {
        "id": project.id,
        "projectName": project.name,
        "projectDescription": project.description,
        "fileName": project.file_name,
        "created": _iso(project.created_at),
        "stage": "modeling" if aimed else "aim",
        "target": project.target,
        "targetType": TARGET_TYPES.get(project.target_type or ""),
        "autopilotMode": AUTOPILOT_MODE_NUMBERS.get(project.mode or ""),
        "metric": project.metric,
        "holdoutUnlocked": True,
        "positiveClass": None,
        "partition": (
            {
                "cvMethod": "stratified" if classification else "random",
                "validationType": "CV",
                "reps": 3,
                "holdoutPct": 20.0,
                "useTimeSeries": False,
            }
            if aimed
            else None
        ),
        "advancedOptions": {},
        "maxTrainPct": None,
        "maxTrainRows": None,
        "useGpu": False,
        "unsupervisedMode": False,
        "useFeatureDiscovery": False,
        # Ours: where the data and the sweep are.
        "autopilotStatus": project.status,
        "autopilotError": project.error,
        "autopilotMlopsMode": project.mode,
        "dataset": {"name": project.dataset, "version": project.snapshot_version},
        "columns": project.columns,
        "sweep": project.sweep,
        "runner": project.runner,
        "worker": project.worker,
        "parentRunId": project.parent_run_id,
        "experimentName": f"project-{project.id}" if aimed else None,
        "startedAt": _iso(project.started_at),
        "finishedAt": _iso(project.finished_at),
    }


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def model_json(project: Project, row: dict[str, Any]) -> dict[str, Any]:
    """One leaderboard row as DataRobot's model; the CV score is both ``validation`` and ``crossValidation``."""
    family = str(row["family"])
    kind = "Regressor" if project.target_type == "regression" else "Classifier"
    pretty = FAMILY_NAMES.get(family, family.replace("_", " ").title())
    score = _number(row.get("score"))
    return {
        "id": row["run_id"],
        "projectId": project.id,
        # DataRobot's words for the algorithm, and our family's name, which fromLearningModel refits.
        "modelType": f"{pretty} {kind} ({family})",
        "modelFamily": family,
        "modelFamilyFullName": pretty,
        "modelCategory": "model",
        "modelNumber": int(row["trial_number"]) + 1,
        "blueprintId": family,  # no blueprints here: the family is what a blueprint would name
        "processes": None,
        "featurelistId": None,
        "featurelistName": None,
        "samplePct": _number(row.get("sample_pct")),
        "trainingRowCount": None,
        "isFrozen": False,
        "isStarred": False,
        "isTrainedIntoValidation": False,
        "isTrainedIntoHoldout": False,
        "parentModelId": None,
        "metrics": {
            str(row.get("metric") or project.metric): {
                "validation": score,
                "crossValidation": score,
                "holdout": _number(row.get("holdout_score")),
                "backtesting": None,
                "backtestingScores": None,
            }
        },
        # Ours: the rank, the trial's hyperparameters and costs.
        "rank": int(row["rank"]),
        "hyperparameters": row.get("params") or {},
        "fitTimeS": _number(row.get("fit_time_s")),
        "predictRowsPerS": _number(row.get("predict_rows_per_s")),
        "modelSizeBytes": _number(row.get("model_size_bytes")),
    }


def build_projects_router(settings: Settings) -> APIRouter:
    router = APIRouter(
        prefix="/api/v2/projects",
        tags=["projects"],
        responses={
            401: {"description": "No valid token"},
            404: {"description": "No such project, or not the caller's (the same answer)"},
            422: {"description": "Bad input, or a DataRobot concept we lack; the message names it"},
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
        unsupported = _unsupported_aim_options(body)
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
            runner=await call(get_runner),
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
