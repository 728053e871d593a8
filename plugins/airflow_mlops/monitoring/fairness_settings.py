"""The ``bias_and_fairness`` settings section: protected features, favourable class, metric set, threshold.

DataRobot's names and shape (``biasAndFairness`` in ``settings/``, as its client's
``update_bias_and_fairness_settings`` sends it): ``protected_features`` (at most
10), ``preferable_target_value`` (the favourable class), ``fairness_metrics_set``
(one of the client's ``FairnessMetricsSet`` values) and ``fairness_threshold``
(0 to 1, default 0.8: the four-fifths rule). Empty ``protected_features`` means
fairness is off. The fields after those are this project's, for the health rule
(:func:`.fairness.fairness_health`): how many rows a group needs before it is
judged, and how many groups below the threshold warn or fail.

Which features exist and which classes the model has are checked by the
deployment (``deployments/settings.py``), which knows its model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from airflow_mlops.settings_model import SettingsModel, rule_error

__all__ = ["FAIRNESS_METRICS_SETS", "FairnessSettings"]

#: DataRobot's ``FairnessMetricsSet`` (client 3.x) and the individual metrics each one reports.
FAIRNESS_METRICS_SETS: dict[str, tuple[str, ...]] = {
    "proportionalParity": ("proportionalParity",),
    "equalParity": ("equalParity",),
    "predictionBalance": ("favorableClassBalance", "unfavorableClassBalance"),
    "trueFavorableAndUnfavorableRateParity": ("trueFavorableRateParity", "trueUnfavorableRateParity"),
    "favorableAndUnfavorablePredictiveValueParity": (
        "favorablePredictiveValueParity",
        "unfavorablePredictiveValueParity",
    ),
}

Label = Annotated[str, Field(min_length=1, max_length=256)]


class FairnessSettings(SettingsModel):
    """Bias and fairness monitoring of a binary classification deployment (off while no feature is protected)."""

    protected_features: Annotated[list[Label], Field(max_length=10)] = Field(default_factory=list)
    #: The favourable outcome: one of the model's two classes (DataRobot sends a string, number or bool).
    preferable_target_value: str | int | bool | None = None
    fairness_metrics_set: Literal[
        "proportionalParity",
        "equalParity",
        "predictionBalance",
        "trueFavorableAndUnfavorableRateParity",
        "favorableAndUnfavorablePredictiveValueParity",
    ] = "proportionalParity"
    fairness_threshold: Annotated[float, Field(ge=0, le=1)] = 0.8
    #: Rows a group needs in the window before its score is judged (fewer: not significant).
    min_group_rows: Annotated[int, Field(ge=1)] = 100
    #: Groups (over all protected features and metrics) below the threshold that warn / fail.
    warning_groups: Annotated[int, Field(ge=1)] = 1
    failing_groups: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _consistent(self) -> FairnessSettings:
        if self.protected_features and self.preferable_target_value is None:
            raise rule_error(
                "preferable_target_value (the favourable class) is required with protected_features"
            )
        if len(set(self.protected_features)) != len(self.protected_features):
            raise rule_error(f"protected_features lists a feature twice: {self.protected_features}")
        if self.warning_groups > self.failing_groups:
            raise rule_error(
                f"warning_groups ({self.warning_groups}) must not exceed failing_groups ({self.failing_groups})"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.protected_features)
