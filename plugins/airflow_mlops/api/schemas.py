"""Request bodies (unknown fields are refused) and the camelCase shapes of responses.

The settings bodies are not written here: they are built from the settings
section models (:mod:`airflow_mlops.deployments.settings`, ``monitoring.health_settings``,
``retraining.policy``) by :func:`patch_model`, so a field, its camelCase name
and its rule exist once.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from airflow_mlops.deployments import Deployment, DeploymentOverview
from airflow_mlops.deployments.settings import (
    AssociationIdSettings,
    Enabled,
    PredictionWarningSettings,
    parse_settings,
)
from airflow_mlops.enums import DEPLOYMENT_ROLE
from airflow_mlops.monitoring.fairness_settings import FairnessSettings
from airflow_mlops.monitoring.health_settings import (
    AccuracyHealthSettings,
    DriftHealthSettings,
    ServiceHealthSettings,
)
from airflow_mlops.retraining.policy import RetrainingPolicy
from airflow_mlops.security import permissions
from airflow_mlops.settings_model import SettingsModel, refuse_nul, rule_error

ID_PATTERN = r"^[0-9a-f]{24}$"
#: ``model.type`` of every deployment: DataRobot shows the blueprint's name; an MLflow version has none.
MODEL_TYPE = "MLflow registered model version"
MODEL_ID_PATTERN = r"^(models:/)?.+/[0-9]+$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL cannot store NUL in text: refuse it here, naming the field, rather than fail later."""
        return refuse_nul(value)


#: DataRobot's ``defaultPredictionServerId``: accepted and ignored, because this server has one
#: prediction server (itself, or ``MLOPS_PREDICTION_SERVER_URL``), shown as the deployment's
#: ``defaultPredictionServer`` whatever id the caller named.
PredictionServerId = Annotated[
    str | None,
    Field(
        default=None,
        alias="defaultPredictionServerId",
        max_length=256,
        description="Accepted and ignored: this server has a single prediction server.",
    ),
]


class DeploymentCreate(Body):
    model_package_id: str = Field(
        alias="modelPackageId",
        pattern=MODEL_ID_PATTERN,
        description="Registered model version, '<name>/<version>'.",
    )
    label: str = Field(min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=10_000)
    importance: Literal["CRITICAL", "HIGH", "MODERATE", "LOW"] | None = None
    default_prediction_server_id: PredictionServerId = None


class DeploymentFromLearningModel(Body):
    model_id: str = Field(
        alias="modelId", pattern=r"^[0-9a-f]{32}$", description="The sweep trial's MLflow run id."
    )
    registered_model_name: str | None = Field(
        default=None,
        alias="registeredModelName",
        min_length=1,
        max_length=256,
        pattern=r"^[^/\s]+$",
        description=(
            "The registered model the refit is a version of. Left out (DataRobot's client has no such"
            " field): derived from the label, whitespace and '/' runs becoming '-'"
            " (``airflow_mlops.deployments.registered_model_name_for``)."
        ),
    )
    label: str = Field(min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=10_000)
    importance: Literal["CRITICAL", "HIGH", "MODERATE", "LOW"] | None = None
    default_prediction_server_id: PredictionServerId = None
    status: Literal["active", "inactive"] | None = Field(
        default=None, description="DataRobot's: 'inactive' deploys the model deactivated."
    )


class DeploymentUpdate(Body):
    label: str | None = Field(default=None, min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=10_000)
    importance: Literal["CRITICAL", "HIGH", "MODERATE", "LOW"] | None = None


class StatusUpdate(Body):
    status: Literal["active", "inactive"]


class ModelValidation(Body):
    """The new model as ``modelId`` or, as DataRobot 3.4+ clients send it, ``modelPackageId``.

    Our model ids are registered model versions (``<name>/<version>``), which is
    what DataRobot calls a model package, so both name the same thing; exactly
    one must be given.
    """

    model_id: str | None = Field(default=None, alias="modelId", pattern=MODEL_ID_PATTERN)
    model_package_id: str | None = Field(default=None, alias="modelPackageId", pattern=MODEL_ID_PATTERN)

    @model_validator(mode="after")
    def _one_model(self) -> ModelValidation:
        if (self.model_id is None) == (self.model_package_id is None):
            raise rule_error("give exactly one of modelId and modelPackageId ('<name>/<version>')")
        return self

    @property
    def new_model(self) -> str:
        return str(self.model_id or self.model_package_id)


class ModelReplacement(ModelValidation):
    reason: Literal["ACCURACY", "DATA_DRIFT", "ERRORS", "SCHEDULED_REFRESH", "SCORING_SPEED", "OTHER"]


class PatchBody(SettingsModel):
    """A settings PATCH body: camelCase names only (as before), strict types, unknown fields refused."""

    model_config = ConfigDict(validate_by_name=False)


def patch_model(model: type[SettingsModel], name: str, description: str | None = None) -> type[PatchBody]:
    """``model`` as a PATCH body: every field optional (absent: unchanged) with its type and rule.

    Rules across fields (warning below failing…) are left out: they hold for the
    merged result, which the settings layer validates with ``model`` itself.
    Pydantic has no "partial" model, hence this.
    """
    fields: dict[str, Any] = {}
    for field_name, field in model.model_fields.items():
        kind: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        fields[field_name] = (kind | None, Field(default=None, description=field.description))
    return create_model(name, __base__=PatchBody, __doc__=description, **fields)


EnabledPatch = patch_model(Enabled, "Enabled")
AssociationIdPatch = patch_model(AssociationIdSettings, "AssociationId")
PredictionWarningPatch = patch_model(PredictionWarningSettings, "PredictionWarning")
RetrainingPatch = patch_model(
    RetrainingPolicy,
    "Retraining",
    "The retraining policy (see ``airflow_mlops.retraining.policy``); fields left out keep their value.",
)
ServiceHealthPatch = patch_model(ServiceHealthSettings, "ServiceHealthSettings")
DriftHealthPatch = patch_model(DriftHealthSettings, "DataDriftHealthSettings")
AccuracyHealthPatch = patch_model(AccuracyHealthSettings, "AccuracyHealthSettings")
BiasAndFairnessPatch = patch_model(
    FairnessSettings,
    "BiasAndFairness",
    "Bias and fairness monitoring (DataRobot's biasAndFairness); fields left out keep their value.",
)


#: DataRobot settings sections this server has no counterpart for: how ``settings/`` shows them
#: (off) and why turning one on is refused. Asking for the off state is accepted and changes nothing.
UNSUPPORTED_SETTINGS: dict[str, tuple[dict[str, Any] | None, str]] = {
    "prediction_intervals": (
        {"enabled": False, "percentiles": []},
        "prediction intervals are not supported: served models give point predictions only",
    ),
    "challenger_models": (
        {"enabled": False},
        "challenger models are not supported as a setting: retraining requests score a challenger"
        " against the champion instead (retrainingRequests/)",
    ),
    "segment_analysis": (
        {"enabled": False, "attributes": []},
        "segment analysis is not supported: monitoring is computed over all predictions",
    ),
    "predictions_by_forecast_date": (
        {"enabled": False},
        "predictions by forecast date are not supported: there are no time-series deployments",
    ),
}


class SettingsPatch(PatchBody):
    """DataRobot's ``settings/`` body: drift tracking flattened into targetDrift/featureDrift.

    DataRobot's sections without a counterpart here (:data:`UNSUPPORTED_SETTINGS`)
    are accepted only in their off state, which changes nothing; turning one on is
    a 422 naming it.
    """

    target_drift: EnabledPatch | None = None  # type: ignore[valid-type]
    feature_drift: EnabledPatch | None = None  # type: ignore[valid-type]
    association_id: AssociationIdPatch | None = None  # type: ignore[valid-type]
    predictions_data_collection: EnabledPatch | None = None  # type: ignore[valid-type]
    prediction_warning: PredictionWarningPatch | None = None  # type: ignore[valid-type]
    retraining: RetrainingPatch | None = None  # type: ignore[valid-type]
    bias_and_fairness: BiasAndFairnessPatch | None = None  # type: ignore[valid-type]
    prediction_intervals: dict[str, Any] | None = None
    challenger_models: dict[str, Any] | None = None
    segment_analysis: dict[str, Any] | None = None
    predictions_by_forecast_date: dict[str, Any] | None = None

    @field_validator(*UNSUPPORTED_SETTINGS, mode="before")
    @classmethod
    def _off_only(cls, value: Any, info: ValidationInfo) -> None:
        """The off state (every value empty or false) passes as a no-op; turning the section on is refused."""
        if value is None or (isinstance(value, dict) and not any(value.values())):
            return None
        raise rule_error(UNSUPPORTED_SETTINGS[str(info.field_name)][1])

    def to_patch(self) -> dict[str, Any]:
        """The snake_case settings sections this body changes (a null section changes nothing)."""
        body = self.model_dump(mode="json", exclude_unset=True, exclude=set(UNSUPPORTED_SETTINGS))
        body = {key: value for key, value in body.items() if value is not None}
        drift = {key: body.pop(key) for key in ("target_drift", "feature_drift") if key in body}
        return {**({"drift_tracking": drift} if drift else {}), **body}


class HealthSettingsPatch(PatchBody):
    service: ServiceHealthPatch | None = None  # type: ignore[valid-type]
    data_drift: DriftHealthPatch | None = None  # type: ignore[valid-type]
    accuracy: AccuracyHealthPatch | None = None  # type: ignore[valid-type]

    def to_patch(self) -> dict[str, Any]:
        """The snake_case health sections this body changes (a null section changes nothing)."""
        body = self.model_dump(mode="json", exclude_unset=True)
        return {key: value for key, value in body.items() if value is not None}


class RetrainingRequestCreate(Body):
    """A person's request to retrain; the note is kept as the request's evidence."""

    reason: Literal["ACCURACY", "DATA_DRIFT", "ERRORS", "SCHEDULED_REFRESH", "SCORING_SPEED", "OTHER"] = (
        "OTHER"
    )
    note: str | None = Field(default=None, max_length=2000)


class RetrainingDecision(Body):
    note: str | None = Field(default=None, max_length=2000)


class RoleAssignment(Body):
    """One role to give or take, to a user named by ``username`` or, as DataRobot's client may, ``id``.

    ``id`` is the one ``sharedRoles/`` lists (:func:`recipient_id`), so it names
    only users who hold a role already. Only users have roles here: another
    ``shareRecipientType`` is refused. ``canShare`` is accepted and ignored
    (an OWNER may share, nobody else).
    """

    username: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"^\S+$")
    id: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$")
    role: Literal["OWNER", "USER", "CONSUMER", "NO_ROLE"]
    share_recipient_type: Literal["user"] = Field(default="user", alias="shareRecipientType")
    can_share: bool | None = Field(default=None, alias="canShare")

    @model_validator(mode="after")
    def _someone(self) -> RoleAssignment:
        if self.username is None and self.id is None:
            raise rule_error("give the user's username (or the id sharedRoles/ lists)")
        return self


def recipient_id(username: str) -> str:
    """The 24-hex-digit id DataRobot's client wants for a user: users here have names, not ids."""
    return hashlib.sha256(username.encode()).hexdigest()[:24]


def shared_role_json(role: dict[str, str]) -> dict[str, str]:
    """A role as ``sharedRoles/`` lists it, DataRobot's shape: the username is ``name``.

    No ``username`` key: DataRobot's client refuses an entry with a key it does not know.
    """
    return {
        "id": recipient_id(role["username"]),
        "name": role["username"],
        "role": role["role"],
        "shareRecipientType": "user",
    }


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


def deployment_json(
    d: Deployment,
    role: DEPLOYMENT_ROLE | None,
    overview: DeploymentOverview,
    prediction_server_url: str = "",
) -> dict[str, Any]:
    """A deployment as the API shows it to a caller with ``role``: ``permissions`` are what it may do.

    ``overview`` adds what a console shows beside it: the model's lineage,
    DataRobot's ``predictionUsage`` and the latest Evidently report (its
    HTML at ``reports/latest/``); ``modelCard.url`` is where the deployment's model
    card is served (a path under this API's root). For DataRobot's client, ``model.type`` says
    what kind of model it is (an MLflow registered model version: we do not know
    the estimator's name), ``model.projectId`` is the sweep (MLflow parent run)
    it came from, blank when it came from no sweep, and ``modelPackage`` is the
    registered model version (DataRobot's model package: id ``<name>/<version>``,
    registered model id ``<name>``). ``defaultPredictionServer`` is where
    ``datarobot-predict`` sends rows: ``{url}/predApi/v1.0/deployments/{id}/predictions``
    (we need no ``datarobot-key``, so it is blank).
    """
    lineage, usage, report = overview.lineage, overview.prediction_usage, overview.latest_report
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
            "datasetName": lineage.dataset_name,
            "datasetVersion": lineage.dataset_version,
            "trainingRunId": lineage.training_run_id,
            "sweepParentRunId": lineage.sweep_parent_run_id,
            "mlflowModelUrl": lineage.mlflow_model_url,
            "mlflowRunUrl": lineage.mlflow_run_url,
            "type": MODEL_TYPE,
            "projectId": lineage.sweep_parent_run_id or "",
        },
        "modelPackage": {
            "id": d.model["id"],
            "name": d.model["registered_model_name"],
            "registeredModelId": d.model["registered_model_name"],
        },
        "serviceHealth": health_json(d.service_health),
        "modelHealth": health_json(d.model_health),
        "accuracyHealth": health_json(d.accuracy_health),
        "fairnessHealth": health_json(d.fairness_health),
        "createdAt": d.created_at.isoformat(),
        "updatedAt": d.updated_at.isoformat(),
        "permissions": permissions(role),
        "defaultPredictionServer": {"id": "default", "url": prediction_server_url, "datarobot-key": ""},
        "predictionUsage": {
            "lastTimestamp": usage.last_timestamp.isoformat() if usage.last_timestamp else None,
            "dailyRates": list(usage.daily_rates),
        },
        "latestReport": (
            {"uri": report.uri, "createdAt": report.created_at.isoformat()} if report is not None else None
        ),
        "modelCard": {"url": f"/api/v2/deployments/{d.id}/modelCard/"},
    }


def settings_json(settings: dict[str, Any]) -> dict[str, Any]:
    """DataRobot's ``settings/`` shape: drift tracking flattened into targetDrift/featureDrift."""
    document = parse_settings(settings).model_dump(mode="json", by_alias=True)
    drift = document.pop("driftTracking")
    document.pop("health")
    if not document["biasAndFairness"]["protectedFeatures"]:
        document["biasAndFairness"] = None  # DataRobot's "off", which its client reads as None
    unsupported = {to_camel(name): shown for name, (shown, _why) in UNSUPPORTED_SETTINGS.items()}
    return {
        "targetDrift": drift["targetDrift"],
        "featureDrift": drift["featureDrift"],
        **document,
        **unsupported,
    }


def health_settings_json(settings: dict[str, Any]) -> dict[str, Any]:
    return dict(parse_settings(settings).health.model_dump(mode="json", by_alias=True))
