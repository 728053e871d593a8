"""The JSON of ``/api/v2/projects/…``: DataRobot's project and model shapes, and the request bodies.

Kept apart from the routes (:mod:`airflow_mlops.api.projects`) so each stays small.
What DataRobot has and we lack is an honest ``null`` the client's converters
allow; our own state (the sweep's status, the snapshot, the MLflow run) is added
under keys DataRobot does not use.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, create_model

from airflow_mlops.api.schemas import Body
from airflow_mlops.services.projects import AUTOPILOT_MODE_NUMBERS, TARGET_TYPES, Project

__all__ = [
    "AIM_CONCEPTS",
    "FAMILY_NAMES",
    "UNSUPPORTED",
    "AimBody",
    "ProjectUpdate",
    "model_json",
    "project_json",
    "unsupported_aim_options",
]

#: How each family reads on a leaderboard (DataRobot's ``modelType`` names the algorithm).
FAMILY_NAMES = {
    "linear": "Regularized Linear Model",
    "random_forest": "Random Forest",
    "extra_trees": "Extra Trees",
    "hist_gradient_boosting": "Histogram Gradient Boosted Trees",
    "lightgbm": "LightGBM Gradient Boosted Trees",
    "xgboost": "eXtreme Gradient Boosted Trees",
    "catboost": "CatBoost Gradient Boosted Trees",
    "knn": "k-Nearest Neighbors",
    "ensemble": "Weighted Ensemble Blender",
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


def unsupported_aim_options(body: Any) -> list[str]:
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
        # DataRobot's category for a blender is "blend"; the sweep's ensemble is one.
        "modelCategory": "blend" if family == "ensemble" else "model",
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
