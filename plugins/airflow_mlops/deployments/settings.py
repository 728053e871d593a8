"""Deployment settings: the whole document, its defaults, and applying a change to it.

Settings live as one JSON document per deployment (snake_case, durations as
ISO-8601 text). :class:`DeploymentSettings` composes it from one Pydantic model
per section, each defined once next to the code that acts on it:

* ``drift_tracking``, ``association_id``, ``predictions_data_collection``,
  ``prediction_warning``: here (they concern the deployment and its serving);
* ``health``: :class:`~airflow_mlops.monitoring.health_settings.HealthSettings`;
* ``bias_and_fairness``: :class:`~airflow_mlops.monitoring.fairness_settings.FairnessSettings`;
* ``retraining``: :class:`~airflow_mlops.retraining.policy.RetrainingPolicy`.

The same models are the REST schemas (camelCase on the wire) and what the
Python updaters validate with. Every update goes through :func:`validate_section`:
the change is merged into the current section and the result validated as a
whole, so a rule across fields holds whichever field changed, and nothing
invalid is stored. A refusal is a :class:`SettingsError` naming the field,
quoting the value, and listing the valid values or fields.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, get_args

from pydantic import BaseModel, Field, ValidationError, model_validator

from airflow_mlops.monitoring.fairness import is_label
from airflow_mlops.monitoring.fairness_settings import FairnessSettings
from airflow_mlops.monitoring.health_settings import HealthSettings
from airflow_mlops.retraining.policy import RetrainingPolicy
from airflow_mlops.settings_model import SettingsModel, describe_errors, rule_error

__all__ = [
    "DEFAULT_SETTINGS",
    "REPLACEMENT_MODES",
    "SECTIONS",
    "SECTION_MODELS",
    "AssociationIdSettings",
    "Boundaries",
    "DeploymentSettings",
    "DriftTrackingSettings",
    "Enabled",
    "PredictionWarningSettings",
    "SettingsError",
    "default_settings",
    "parse_settings",
    "validate_section",
    "with_defaults",
]


class SettingsError(ValueError):
    """An invalid settings value; the message names the field and what it accepts."""


class Enabled(SettingsModel):
    enabled: bool = True


class DriftTrackingSettings(SettingsModel):
    target_drift: Enabled = Field(default_factory=Enabled)
    feature_drift: Enabled = Field(default_factory=Enabled)


class AssociationIdSettings(SettingsModel):
    """The column joining a prediction to its actual (DataRobot allows one)."""

    column_names: Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=1)] = Field(
        default_factory=list
    )
    required_in_prediction_requests: bool = False

    @model_validator(mode="after")
    def _required_needs_a_column(self) -> AssociationIdSettings:
        if self.required_in_prediction_requests and not self.column_names:
            raise rule_error("required_in_prediction_requests needs a column in column_names")
        return self


class Boundaries(SettingsModel):
    lower: float
    upper: float

    @model_validator(mode="after")
    def _ordered(self) -> Boundaries:
        if self.lower >= self.upper:
            raise rule_error(f"lower ({self.lower:g}) must be below upper ({self.upper:g})")
        return self


class PredictionWarningSettings(SettingsModel):
    """Regression only. ``custom_boundaries`` None: boundaries derived from the holdout predictions."""

    enabled: bool = False
    custom_boundaries: Boundaries | None = None


class DeploymentSettings(SettingsModel):
    """The whole settings document of a deployment, every section with its defaults."""

    drift_tracking: DriftTrackingSettings = Field(default_factory=DriftTrackingSettings)
    association_id: AssociationIdSettings = Field(default_factory=AssociationIdSettings)
    predictions_data_collection: Enabled = Field(default_factory=Enabled)
    prediction_warning: PredictionWarningSettings = Field(default_factory=PredictionWarningSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    bias_and_fairness: FairnessSettings = Field(default_factory=FairnessSettings)
    retraining: RetrainingPolicy = Field(default_factory=RetrainingPolicy)


#: The model of each section, by its name in the document.
SECTION_MODELS: dict[str, type[BaseModel]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in DeploymentSettings.model_fields.items()
}
SECTIONS = tuple(SECTION_MODELS)

#: How a better challenger becomes the champion.
REPLACEMENT_MODES: tuple[str, ...] = get_args(RetrainingPolicy.model_fields["replacement"].annotation)

DEFAULT_SETTINGS: dict[str, Any] = DeploymentSettings().model_dump(mode="json")


def default_settings() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_SETTINGS)


def with_defaults(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Stored settings over the defaults, so deployments created before a setting existed get it.

    Not validated: reading a deployment must not fail on a value an older
    version accepted; the next change to that section validates it.
    """
    merged = default_settings()
    _deep_update(merged, stored or {})
    return merged


def _deep_update(base: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _validated(model: type[BaseModel], data: Any, prefix: str) -> BaseModel:
    try:
        return model.model_validate(data, by_name=True, by_alias=False)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, model, prefix)) from None


def parse_settings(stored: dict[str, Any] | None) -> DeploymentSettings:
    """A stored document (defaults filled in) as the model, e.g. to write it in camelCase."""
    model = _validated(DeploymentSettings, with_defaults(stored), "")
    assert isinstance(model, DeploymentSettings)
    return model


def validate_section(
    section: str,
    patch: dict[str, Any],
    current: dict[str, Any],
    *,
    target_type: str,
    features: list[str] | None = None,
    classes: list[Any] | None = None,
) -> dict[str, Any]:
    """``current[section]`` with ``patch`` merged in, validated; raises :class:`SettingsError`.

    Nested objects merge (a patch of ``health.service`` keeps ``health.data_drift``);
    lists and other values replace. ``features`` (the model's) are the names
    ``health.data_drift`` feature lists and ``bias_and_fairness.protected_features``
    may use; ``classes`` (the model's) what ``preferable_target_value`` may name.
    """
    if section not in SECTION_MODELS:
        raise SettingsError(f"settings section {section!r} is not valid; expected one of {list(SECTIONS)}")
    if not isinstance(patch, dict):
        raise SettingsError(f"{section}: Input should be an object, got {patch!r}")
    if section == "prediction_warning" and target_type != "Regression":
        raise SettingsError(
            f"prediction warnings are for regression deployments only; this one is {target_type}"
        )
    merged = copy.deepcopy(current.get(section) or {})
    _deep_update(merged, patch)
    result = _validated(SECTION_MODELS[section], merged, section).model_dump(mode="json")
    if section == "health" and features is not None:
        _check_feature_names(patch, features)
    if section == "bias_and_fairness" and result["protected_features"]:
        _check_fairness(result, target_type, features, classes)
    return result


def _check_fairness(
    result: dict[str, Any], target_type: str, features: list[str] | None, classes: list[Any] | None
) -> None:
    """Fairness is for binary classification, on features of the model, favouring one of its classes."""
    if target_type != "Binary":
        raise SettingsError(
            f"bias_and_fairness: fairness monitoring is for binary classification deployments only; "
            f"this one is {target_type}"
        )
    if features is not None:
        unknown = [name for name in result["protected_features"] if name not in features]
        if unknown:
            raise SettingsError(
                f"bias_and_fairness.protected_features: {unknown} are not features of the model; "
                f"features: {features}"
            )
    favourable = result["preferable_target_value"]
    if classes and not any(is_label(favourable, str(c)) for c in classes):
        raise SettingsError(
            f"bias_and_fairness.preferable_target_value: {favourable!r} is not a class of the model; "
            f"classes: {[str(c) for c in classes]}"
        )


def _check_feature_names(patch: dict[str, Any], features: list[str]) -> None:
    """The drift feature lists a change sets name features of the model (lists kept from before are not re-checked)."""
    drift = patch.get("data_drift") or {}
    for key in ("excluded_features", "starred_features"):
        unknown = [name for name in drift.get(key) or [] if name not in features]
        if unknown:
            raise SettingsError(
                f"health.data_drift.{key}: {unknown} are not features of the model; features: {features}"
            )
