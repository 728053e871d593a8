"""Drift health: DataRobot-style rules from per-feature scores to a status and message."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring import DriftHealthSettings, drift_health

IMPORTANCE = {"tenure": 0.9, "plan": 0.6, "age": 0.1, "region": 0.3}


def test_defaults_follow_datarobot() -> None:
    settings = DriftHealthSettings()
    assert settings.drift_threshold == 0.15
    assert settings.importance_threshold == 0.5
    assert settings.low_importance_warning_count == 1
    assert settings.low_importance_failing_count is None
    assert settings.high_importance_warning_count == 1
    assert settings.high_importance_failing_count == 1
    assert settings.excluded_features == []
    assert settings.metric == "psi"


def test_passing_when_nothing_drifts() -> None:
    status, message = drift_health({"tenure": 0.05, "plan": 0.149, "age": 0.02}, IMPORTANCE)
    assert status is HEALTH_STATUS.PASSING
    assert message == "passing: no feature drifted (3 checked; highest plan psi=0.149, threshold 0.15)"


def test_failing_names_drifted_high_importance_features_highest_first() -> None:
    scores = {"plan": 0.22, "tenure": 0.41, "age": 0.05}
    status, message = drift_health(scores, IMPORTANCE, DriftHealthSettings())
    assert status is HEALTH_STATUS.FAILING
    assert message == (
        "failing: 2 high-importance features drifted: tenure psi=0.41, plan psi=0.22 (threshold 0.15)"
    )


def test_warning_when_only_low_importance_features_drift() -> None:
    status, message = drift_health({"tenure": 0.01, "age": 0.3, "region": 0.2}, IMPORTANCE)
    assert status is HEALTH_STATUS.WARNING
    assert (
        message == "warning: 2 low-importance features drifted: age psi=0.3, region psi=0.2 (threshold 0.15)"
    )


def test_score_equal_to_threshold_counts_as_drifted() -> None:
    status, _ = drift_health({"age": 0.15}, IMPORTANCE)
    assert status is HEALTH_STATUS.WARNING


def test_message_lists_both_groups() -> None:
    status, message = drift_health({"tenure": 0.5, "age": 0.2}, IMPORTANCE)
    assert status is HEALTH_STATUS.FAILING
    assert "1 high-importance feature drifted: tenure psi=0.5" in message
    assert "1 low-importance feature drifted: age psi=0.2" in message


def test_without_importance_every_feature_is_high_importance() -> None:
    status, message = drift_health({"age": 0.3, "region": 0.01}, {})
    assert status is HEALTH_STATUS.FAILING
    assert "1 high-importance feature drifted: age psi=0.3" in message


def test_feature_missing_from_known_importance_is_high_importance() -> None:
    status, message = drift_health({"new_feature": 0.3}, IMPORTANCE)
    assert status is HEALTH_STATUS.FAILING
    assert "high-importance feature drifted: new_feature" in message


def test_excluded_features_are_ignored() -> None:
    settings = DriftHealthSettings(excluded_features=["tenure"])
    status, message = drift_health({"tenure": 2.0, "plan": 0.01}, IMPORTANCE, settings)
    assert status is HEALTH_STATUS.PASSING
    assert "tenure" not in message


def test_unknown_when_nothing_to_judge() -> None:
    status, message = drift_health({}, IMPORTANCE)
    assert status is HEALTH_STATUS.UNKNOWN
    assert message.startswith("unknown: ")
    settings = DriftHealthSettings(excluded_features=["tenure"])
    status, message = drift_health({"tenure": 2.0}, IMPORTANCE, settings)
    assert status is HEALTH_STATUS.UNKNOWN
    assert "excluded" in message


def test_counts_control_warning_and_failing() -> None:
    scores = {"tenure": 0.3, "plan": 0.3, "age": 0.3, "region": 0.3}
    lenient = DriftHealthSettings(high_importance_failing_count=3)
    assert drift_health(scores, IMPORTANCE, lenient)[0] is HEALTH_STATUS.WARNING
    low_fails = DriftHealthSettings(high_importance_failing_count=3, low_importance_failing_count=2)
    assert drift_health(scores, IMPORTANCE, low_fails)[0] is HEALTH_STATUS.FAILING
    # Low-importance drift alone never fails by default, however many features drift.
    low_only = {"age": 0.9, "region": 0.9}
    assert drift_health(low_only, IMPORTANCE)[0] is HEALTH_STATUS.WARNING


def test_drift_below_the_warning_counts_passes_but_says_so() -> None:
    settings = DriftHealthSettings(low_importance_warning_count=2)
    status, message = drift_health({"age": 0.3, "tenure": 0.01}, IMPORTANCE, settings)
    assert status is HEALTH_STATUS.PASSING
    assert "age psi=0.3" in message
    assert "below the configured warning counts" in message


def test_importance_threshold_moves_features_between_groups() -> None:
    settings = DriftHealthSettings(importance_threshold=0.95)
    status, message = drift_health({"tenure": 0.3}, IMPORTANCE, settings)
    assert status is HEALTH_STATUS.WARNING
    assert "low-importance feature drifted: tenure" in message


def test_message_uses_the_configured_metric_and_threshold() -> None:
    settings = DriftHealthSettings(metric="hellinger", drift_threshold=0.1)
    _, message = drift_health({"tenure": 0.125}, IMPORTANCE, settings)
    assert "tenure hellinger=0.125" in message
    assert "(threshold 0.1)" in message


def test_long_lists_are_truncated() -> None:
    scores = {f"f{i}": 1.0 + i / 100 for i in range(8)}
    _, message = drift_health(scores, {})
    assert message.startswith("failing: 8 high-importance features drifted: f7 psi=1.07")
    assert message.endswith("and 3 more (threshold 0.15)")


def test_nan_scores_are_rejected() -> None:
    with pytest.raises(ValueError, match="NaN for age"):
        drift_health({"age": float("nan")}, IMPORTANCE)


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"drift_threshold": -0.1}, "greater than or equal to 0"),
        ({"drift_threshold": float("inf")}, "finite number"),
        ({"importance_threshold": "high"}, "valid number"),
        ({"high_importance_failing_count": 0}, "greater than or equal to 1"),
        ({"low_importance_warning_count": True}, "valid integer"),
        ({"low_importance_failing_count": 0}, "greater than or equal to 1"),
        ({"excluded_features": "tenure"}, "valid list"),
        ({"metric": "energy"}, "registered drift metric: .*'psi'"),
        ({"time_interval": "weekly"}, "ISO-8601 duration .*P7D"),
        ({"colour": "blue"}, "Extra inputs"),
    ],
)
def test_settings_validation_names_the_field_and_quotes_the_bad_value(
    kwargs: dict[str, object], rule: str
) -> None:
    with pytest.raises(ValidationError) as info:
        DriftHealthSettings(**kwargs)  # type: ignore[arg-type]
    [(field, value)] = kwargs.items()
    [error] = info.value.errors()
    assert error["loc"] == (field,)
    assert error["input"] == value
    assert re.search(rule, error["msg"]), error["msg"]
    assert f"input_value={value!r}" in str(info.value)
