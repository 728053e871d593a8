"""The settings document: one model per section, merging a change, defaults, and errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_mlops.deployments.settings import (
    DEFAULT_SETTINGS,
    SECTIONS,
    DeploymentSettings,
    SettingsError,
    default_settings,
    parse_settings,
    validate_section,
    with_defaults,
)
from airflow_mlops.monitoring import DriftHealthSettings, HealthSettings
from airflow_mlops.retraining import RetrainingPolicy


def _apply(section: str, patch: Any, target_type: str = "Regression", **kwargs: Any) -> dict[str, Any]:
    return validate_section(section, patch, default_settings(), target_type=target_type, **kwargs)


def _refusal(section: str, patch: Any, **kwargs: Any) -> str:
    with pytest.raises(SettingsError) as info:
        _apply(section, patch, **kwargs)
    return str(info.value)


def test_the_sections_and_their_defaults() -> None:
    assert SECTIONS == (
        "drift_tracking",
        "association_id",
        "predictions_data_collection",
        "prediction_warning",
        "health",
        "bias_and_fairness",
        "retraining",
    )
    assert DEFAULT_SETTINGS["drift_tracking"] == {
        "target_drift": {"enabled": True},
        "feature_drift": {"enabled": True},
    }
    assert DEFAULT_SETTINGS["association_id"] == {
        "column_names": [],
        "required_in_prediction_requests": False,
    }
    assert DEFAULT_SETTINGS["predictions_data_collection"] == {"enabled": True}
    assert DEFAULT_SETTINGS["prediction_warning"] == {"enabled": False, "custom_boundaries": None}
    # The health and retraining sections are the models the rules and the policy use.
    assert DEFAULT_SETTINGS["health"] == HealthSettings().model_dump(mode="json")
    assert DEFAULT_SETTINGS["health"]["data_drift"]["time_interval"] == "P7D"
    assert DEFAULT_SETTINGS["retraining"] == RetrainingPolicy().model_dump(mode="json")
    assert DEFAULT_SETTINGS["retraining"]["cool_down"] == "P1D"
    # Fairness is off (no protected feature); the threshold is the four-fifths rule.
    assert DEFAULT_SETTINGS["bias_and_fairness"]["protected_features"] == []
    assert DEFAULT_SETTINGS["bias_and_fairness"]["fairness_threshold"] == 0.8


FAIR = {"protected_features": ["plan"], "preferable_target_value": "no"}


def test_fairness_settings_name_the_bad_field_and_the_valid_values() -> None:
    binary = {"target_type": "Binary", "features": ["plan", "tenure"], "classes": ["no", "yes"]}
    done = _apply("bias_and_fairness", {**FAIR, "fairness_metrics_set": "equalParity"}, **binary)
    assert (done["protected_features"], done["fairness_metrics_set"], done["fairness_threshold"]) == (
        ["plan"],
        "equalParity",
        0.8,
    )
    assert "binary classification deployments only; this one is Regression" in _refusal(
        "bias_and_fairness", FAIR, features=["plan"], classes=None
    )
    said = _refusal("bias_and_fairness", {**FAIR, "protected_features": ["age"]}, **binary)
    assert said == (
        "bias_and_fairness.protected_features: ['age'] are not features of the model; "
        "features: ['plan', 'tenure']"
    )
    said = _refusal("bias_and_fairness", {**FAIR, "preferable_target_value": "maybe"}, **binary)
    assert said == (
        "bias_and_fairness.preferable_target_value: 'maybe' is not a class of the model; classes: ['no', 'yes']"
    )
    said = _refusal("bias_and_fairness", {**FAIR, "fairness_metrics_set": "fairest"}, **binary)
    assert said.startswith("bias_and_fairness.fairness_metrics_set: Input should be 'proportionalParity'")
    assert "'fairest'" in said
    assert "less than or equal to 1" in _refusal(
        "bias_and_fairness", {**FAIR, "fairness_threshold": 1.2}, **binary
    )
    assert "preferable_target_value (the favourable class) is required" in _refusal(
        "bias_and_fairness", {"protected_features": ["plan"]}, **binary
    )


@pytest.mark.parametrize(
    ("section", "patch", "says"),
    [
        (
            "drift_tracking",
            {"target_drift": {"enabled": True, "window": 3}},
            "drift_tracking.target_drift: unknown field 'window'; valid fields: ['enabled']",
        ),
        (
            "drift_tracking",
            {"colour": 1},
            "drift_tracking: unknown field 'colour'; valid fields: ['target_drift', 'feature_drift']",
        ),
        (
            "association_id",
            {"column": "id"},
            "association_id: unknown field 'column'; valid fields: ['column_names', 'required_in_prediction_requests']",
        ),
        ("predictions_data_collection", {"on": True}, "predictions_data_collection: unknown field 'on'"),
        (
            "prediction_warning",
            {"custom_boundaries": {"lower": 1, "upper": 2, "middle": 1.5}},
            "prediction_warning.custom_boundaries: unknown field 'middle'; valid fields: ['lower', 'upper']",
        ),
        (
            "health",
            {"latency": {}},
            "health: unknown field 'latency'; valid fields: ['service', 'data_drift', 'accuracy']",
        ),
        (
            "health",
            {"service": {"window": 1}},
            "health.service: unknown field 'window'; valid fields: ['batch_count'",
        ),
        (
            "health",
            {"accuracy": {"tolerance": 1}},
            "health.accuracy: unknown field 'tolerance'; valid fields: ['metric'",
        ),
        ("retraining", {"colour": "blue"}, "retraining: unknown field 'colour'; valid fields: ['source'"),
    ],
)
def test_unknown_fields_are_refused_naming_them_and_the_valid_ones(
    section: str, patch: Any, says: str
) -> None:
    assert says in _refusal(section, patch)


@pytest.mark.parametrize(
    ("section", "patch", "says"),
    [
        (
            "retraining",
            {"replacement": "maybe"},
            "retraining.replacement: Input should be 'automatic' or 'approval', got 'maybe'",
        ),
        (
            "retraining",
            {"trigger_reasons": ["ACCURACY", "BOREDOM"]},
            "retraining.trigger_reasons.1: Input should be 'ACCURACY', 'DATA_DRIFT', 'ERRORS', "
            "'SCHEDULED_REFRESH', 'SCORING_SPEED' or 'OTHER', got 'BOREDOM'",
        ),
        (
            "health",
            {"accuracy": {"measurement": "ratio"}},
            "health.accuracy.measurement: Input should be 'percent' or 'value', got 'ratio'",
        ),
        (
            "health",
            {"data_drift": {"metric": "vibes"}},
            "health.data_drift.metric: Input should be a registered drift metric: 'dissimilarity', "
            "'hellinger', 'js_distance', 'js_divergence', 'kl_divergence', 'ks', 'psi', 'wasserstein', "
            "got 'vibes'",
        ),
    ],
)
def test_a_bad_choice_lists_the_valid_ones(section: str, patch: Any, says: str) -> None:
    assert _refusal(section, patch) == says


@pytest.mark.parametrize(
    ("section", "patch", "says"),
    [
        ("drift_tracking", {"feature_drift": {"enabled": "no"}}, "drift_tracking.feature_drift.enabled: "),
        ("drift_tracking", {"feature_drift": "off"}, "drift_tracking.feature_drift: "),
        (
            "association_id",
            {"required_in_prediction_requests": 1},
            "association_id.required_in_prediction_requests: ",
        ),
        ("predictions_data_collection", {"enabled": None}, "predictions_data_collection.enabled: "),
        (
            "prediction_warning",
            {"custom_boundaries": {"lower": "low", "upper": 1}},
            ".custom_boundaries.lower: ",
        ),
        ("health", {"service": {"min_requests": 0}}, "health.service.min_requests: "),
        ("health", {"service": {"user_error_failing": 2}}, "health.service.user_error_failing: "),
        ("health", {"data_drift": {"drift_threshold": float("nan")}}, "health.data_drift.drift_threshold: "),
        ("health", {"data_drift": {"excluded_features": "tenure"}}, "health.data_drift.excluded_features: "),
        ("health", {"data_drift": {"time_interval": "P1Y"}}, "health.data_drift.time_interval: "),
        ("health", {"accuracy": {"failing_threshold": -1}}, "health.accuracy.failing_threshold: "),
        ("retraining", {"margin": "0.1"}, "retraining.margin: "),
        ("retraining", {"metric": ""}, "retraining.metric: "),
    ],
)
def test_a_bad_value_is_quoted_after_its_field(section: str, patch: dict[str, Any], says: str) -> None:
    message = _refusal(section, patch)
    assert says in message
    bad = next(iter(patch.values()))
    while isinstance(bad, dict):
        bad = next(iter(bad.values()))
    assert message.endswith(f"got {bad!r}"), message


@pytest.mark.parametrize(
    ("section", "patch", "says"),
    [
        ("association_id", {"required_in_prediction_requests": True}, "needs a column in column_names"),
        (
            "prediction_warning",
            {"custom_boundaries": {"lower": 5, "upper": 5}},
            "lower (5) must be below upper (5)",
        ),
        ("health", {"service": {"server_error_warning": 0.1}}, "server_error_warning (0.1) must not exceed"),
        ("health", {"accuracy": {"warning_threshold": 0.3}}, "warning_threshold (0.3) must not exceed"),
        ("retraining", {"data_window": "P7D"}, "data_window needs timestamp_column"),
    ],
)
def test_rules_across_fields_hold_for_the_merged_section(
    section: str, patch: dict[str, Any], says: str
) -> None:
    assert f"{section}" in (message := _refusal(section, patch)) and says in message


def test_a_change_merges_into_the_current_section() -> None:
    current = default_settings()
    current["health"] = validate_section(
        "health", {"service": {"slow_failing": 0.5}}, current, target_type="Binary"
    )
    # A later change to another field keeps it, and a rule across fields sees both.
    after = validate_section("health", {"service": {"slow_warning": 0.4}}, current, target_type="Binary")
    assert (after["service"]["slow_warning"], after["service"]["slow_failing"]) == (0.4, 0.5)
    assert after["data_drift"] == current["health"]["data_drift"]
    with pytest.raises(SettingsError, match=r"slow_warning \(0\.6\) must not exceed slow_failing \(0\.5\)"):
        validate_section("health", {"service": {"slow_warning": 0.6}}, current, target_type="Binary")
    # Lists replace; null resets an optional field.
    current["retraining"] = validate_section(
        "retraining", {"trigger_reasons": ["OTHER"], "metric": "AUC"}, current, target_type="Binary"
    )
    again = validate_section(
        "retraining",
        {"trigger_reasons": ["ERRORS", "ACCURACY"], "metric": None},
        current,
        target_type="Binary",
    )
    assert (again["trigger_reasons"], again["metric"]) == (["ACCURACY", "ERRORS"], None)


def test_deployment_rules_and_bad_sections() -> None:
    assert "regression deployments only; this one is Binary" in _refusal(
        "prediction_warning", {"enabled": True}, target_type="Binary"
    )
    assert "section 'weather' is not valid" in _refusal("weather", {})
    assert _refusal("retraining", "often") == "retraining: Input should be an object, got 'often'"
    refused = _refusal("health", {"data_drift": {"starred_features": ["age", "shoe_size"]}}, features=["age"])
    assert refused == (
        "health.data_drift.starred_features: ['shoe_size'] are not features of the model; features: ['age']"
    )


def test_stored_documents_of_earlier_versions_still_read() -> None:
    stored = {
        "retraining": {"cool_down": "PT24H", "data_window": "P7D", "timestamp_column": "t"},
        "health": {"data_drift": {"time_interval": "PT12H"}},
    }
    merged = with_defaults(stored)
    assert merged["retraining"]["cool_down"] == "PT24H"  # reading does not rewrite what is stored
    assert merged["health"]["service"] == DEFAULT_SETTINGS["health"]["service"]
    document = parse_settings(stored)
    assert isinstance(document, DeploymentSettings)
    assert document.model_dump(mode="json", by_alias=True)["retraining"]["coolDown"] == "P1D"
    assert document.health.data_drift == DriftHealthSettings(time_interval="PT12H")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match=r"health\.data_drift\.high_importance_failing_count: .*got 0"):
        parse_settings({"health": {"data_drift": {"high_importance_failing_count": 0}}})
