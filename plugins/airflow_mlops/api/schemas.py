"""Request bodies (unknown fields are refused) and the camelCase shapes of responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_mlops.deployments import Deployment
from airflow_mlops.deployments.settings import camelize

ID_PATTERN = r"^[0-9a-f]{24}$"
MODEL_ID_PATTERN = r"^(models:/)?.+/[0-9]+$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL cannot store NUL in text: refuse it here, naming the field, rather than fail later."""
        if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
            raise ValueError("must not contain NUL (\\x00) characters")
        return value


class DeploymentCreate(Body):
    model_package_id: str = Field(
        alias="modelPackageId",
        pattern=MODEL_ID_PATTERN,
        description="Registered model version, '<name>/<version>'.",
    )
    label: str = Field(min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=10_000)
    importance: Literal["CRITICAL", "HIGH", "MODERATE", "LOW"] | None = None


class DeploymentFromLearningModel(Body):
    model_id: str = Field(
        alias="modelId", pattern=r"^[0-9a-f]{32}$", description="The sweep trial's MLflow run id."
    )
    registered_model_name: str = Field(
        alias="registeredModelName", min_length=1, max_length=256, pattern=r"^[^/\s]+$"
    )
    label: str = Field(min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=10_000)
    importance: Literal["CRITICAL", "HIGH", "MODERATE", "LOW"] | None = None


class DeploymentUpdate(Body):
    label: str | None = Field(default=None, min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=10_000)
    importance: Literal["CRITICAL", "HIGH", "MODERATE", "LOW"] | None = None


class StatusUpdate(Body):
    status: Literal["active", "inactive"]


class ModelValidation(Body):
    model_id: str = Field(alias="modelId", pattern=MODEL_ID_PATTERN)


class ModelReplacement(Body):
    model_id: str = Field(alias="modelId", pattern=MODEL_ID_PATTERN)
    reason: Literal["ACCURACY", "DATA_DRIFT", "ERRORS", "SCHEDULED_REFRESH", "SCORING_SPEED", "OTHER"]


class Enabled(Body):
    enabled: bool


class AssociationId(Body):
    column_names: list[str] | None = Field(default=None, alias="columnNames", max_length=1)
    required_in_prediction_requests: bool | None = Field(default=None, alias="requiredInPredictionRequests")


class Boundaries(Body):
    lower: float
    upper: float


class PredictionWarning(Body):
    enabled: bool | None = None
    custom_boundaries: Boundaries | None = Field(default=None, alias="customBoundaries")


class Retraining(Body):
    """The retraining policy (see ``airflow_mlops.retraining.policy``); checked again by the settings layer."""

    source: str | None = None
    trigger_reasons: (
        list[Literal["ACCURACY", "DATA_DRIFT", "ERRORS", "SCHEDULED_REFRESH", "SCORING_SPEED", "OTHER"]]
        | None
    ) = Field(default=None, alias="triggerReasons")
    data_window: str | None = Field(default=None, alias="dataWindow")
    timestamp_column: str | None = Field(default=None, alias="timestampColumn")
    cool_down: str | None = Field(default=None, alias="coolDown")
    replacement: Literal["automatic", "approval"] | None = None
    margin: float | None = Field(default=None, ge=0)
    metric: str | None = None
    refresh_schedule: str | None = Field(default=None, alias="refreshSchedule")


class SettingsPatch(Body):
    target_drift: Enabled | None = Field(default=None, alias="targetDrift")
    feature_drift: Enabled | None = Field(default=None, alias="featureDrift")
    association_id: AssociationId | None = Field(default=None, alias="associationId")
    predictions_data_collection: Enabled | None = Field(default=None, alias="predictionsDataCollection")
    prediction_warning: PredictionWarning | None = Field(default=None, alias="predictionWarning")
    retraining: Retraining | None = None

    def to_patch(self) -> dict[str, Any]:
        """The snake_case settings sections this body changes."""
        patch: dict[str, Any] = {}
        drift: dict[str, Any] = {}
        if self.target_drift is not None:
            drift["target_drift"] = {"enabled": self.target_drift.enabled}
        if self.feature_drift is not None:
            drift["feature_drift"] = {"enabled": self.feature_drift.enabled}
        if drift:
            patch["drift_tracking"] = drift
        for name in ("association_id", "predictions_data_collection", "prediction_warning", "retraining"):
            value = getattr(self, name)
            if value is not None:
                patch[name] = value.model_dump(exclude_unset=True)
        return patch


class ServiceHealthSettings(Body):
    batch_count: int | None = Field(default=None, alias="batchCount", ge=1)
    server_error_warning: float | None = Field(default=None, alias="serverErrorWarning", ge=0, le=1)
    server_error_failing: float | None = Field(default=None, alias="serverErrorFailing", ge=0, le=1)
    user_error_warning: float | None = Field(default=None, alias="userErrorWarning", ge=0, le=1)
    user_error_failing: float | None = Field(default=None, alias="userErrorFailing", ge=0, le=1)
    slow_warning: float | None = Field(default=None, alias="slowWarning", ge=0, le=1)
    slow_failing: float | None = Field(default=None, alias="slowFailing", ge=0, le=1)
    response_time_warning_ms: float | None = Field(default=None, alias="responseTimeWarningMs", ge=0)
    response_time_failing_ms: float | None = Field(default=None, alias="responseTimeFailingMs", ge=0)
    min_requests: int | None = Field(default=None, alias="minRequests", ge=1)


class DataDriftHealthSettings(Body):
    time_interval: str | None = Field(default=None, alias="timeInterval")
    drift_threshold: float | None = Field(default=None, alias="driftThreshold", ge=0)
    importance_threshold: float | None = Field(default=None, alias="importanceThreshold", ge=0)
    low_importance_warning_count: int | None = Field(default=None, alias="lowImportanceWarningCount", ge=0)
    low_importance_failing_count: int | None = Field(default=None, alias="lowImportanceFailingCount", ge=0)
    high_importance_warning_count: int | None = Field(default=None, alias="highImportanceWarningCount", ge=0)
    high_importance_failing_count: int | None = Field(default=None, alias="highImportanceFailingCount", ge=0)
    excluded_features: list[str] | None = Field(default=None, alias="excludedFeatures")
    starred_features: list[str] | None = Field(default=None, alias="starredFeatures")
    metric: Literal["psi", "kl_divergence", "dissimilarity", "hellinger", "js_divergence"] | None = None


class AccuracyHealthSettings(Body):
    metric: str | None = None
    measurement: Literal["percent", "value"] | None = None
    warning_threshold: float | None = Field(default=None, alias="warningThreshold", ge=0)
    failing_threshold: float | None = Field(default=None, alias="failingThreshold", ge=0)


class HealthSettingsPatch(Body):
    service: ServiceHealthSettings | None = None
    data_drift: DataDriftHealthSettings | None = Field(default=None, alias="dataDrift")
    accuracy: AccuracyHealthSettings | None = None

    def to_patch(self) -> dict[str, Any]:
        patch: dict[str, Any] = {}
        for name in ("service", "data_drift", "accuracy"):
            value = getattr(self, name)
            if value is not None:
                patch[name] = value.model_dump(exclude_unset=True)
        return patch


class RetrainingRequestCreate(Body):
    """A person's request to retrain; the note is kept as the request's evidence."""

    reason: Literal["ACCURACY", "DATA_DRIFT", "ERRORS", "SCHEDULED_REFRESH", "SCORING_SPEED", "OTHER"] = (
        "OTHER"
    )
    note: str | None = Field(default=None, max_length=2000)


class RetrainingDecision(Body):
    note: str | None = Field(default=None, max_length=2000)


class RoleAssignment(Body):
    username: str = Field(min_length=1, max_length=256, pattern=r"^\S+$")
    role: Literal["OWNER", "USER", "CONSUMER", "NO_ROLE"]


class SharedRolesPatch(Body):
    operation: Literal["updateRoles"] = "updateRoles"
    roles: list[RoleAssignment] = Field(min_length=1, max_length=100)


# ---- responses ------------------------------------------------------------------------------


def health_json(h: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": h["status"],
        "message": h["message"],
        "startDate": h["start_date"],
        "endDate": h["end_date"],
    }


def deployment_json(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "label": d.label,
        "description": d.description,
        "status": d.status,
        "importance": d.importance,
        "model": {
            "id": d.model["id"],
            "registeredModelName": d.model["registered_model_name"],
            "version": d.model["version"],
            "targetName": d.model["target_name"],
            "targetType": d.model["target_type"],
        },
        "serviceHealth": health_json(d.service_health),
        "modelHealth": health_json(d.model_health),
        "accuracyHealth": health_json(d.accuracy_health),
        "createdAt": d.created_at.isoformat(),
        "updatedAt": d.updated_at.isoformat(),
    }


def settings_json(settings: dict[str, Any]) -> dict[str, Any]:
    """DataRobot's ``settings/`` shape: drift tracking flattened into targetDrift/featureDrift."""
    return {
        "targetDrift": settings["drift_tracking"]["target_drift"],
        "featureDrift": settings["drift_tracking"]["feature_drift"],
        "associationId": camelize(settings["association_id"]),
        "predictionsDataCollection": settings["predictions_data_collection"],
        "predictionWarning": camelize(settings["prediction_warning"]),
        "retraining": camelize(settings["retraining"]),
    }


def health_settings_json(settings: dict[str, Any]) -> dict[str, Any]:
    return camelize(settings["health"])
