"""The retraining policy: defaults, validation naming the field, cron firing per interval."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from airflow_mlops.deployments.settings import SettingsError, default_settings, validate_section
from airflow_mlops.retraining import RetrainingPolicy

T = datetime(2024, 6, 3, 0, tzinfo=UTC)  # a Monday


def _policy(**retraining: object) -> RetrainingPolicy:
    settings = default_settings()
    settings["retraining"] = validate_section("retraining", retraining, settings, target_type="Binary")
    return RetrainingPolicy.from_settings(settings)


def test_defaults_trigger_on_every_reason_with_a_day_of_cool_down() -> None:
    policy = RetrainingPolicy.from_settings({})
    assert set(policy.trigger_reasons) == {
        "ACCURACY",
        "DATA_DRIFT",
        "ERRORS",
        "SCORING_SPEED",
        "SCHEDULED_REFRESH",
        "OTHER",
    }
    assert policy.cool_down == timedelta(hours=24)
    assert (policy.replacement, policy.margin, policy.data_window, policy.refresh_schedule) == (
        "automatic",
        0.0,
        None,
        None,
    )


def test_fields_are_parsed() -> None:
    policy = _policy(
        trigger_reasons=["DATA_DRIFT", "ACCURACY"],
        data_window="P14D",
        timestamp_column="event_time",
        cool_down="PT6H",
        replacement="approval",
        margin=0.01,
        refresh_schedule="0 3 * * 1",
    )
    assert policy.trigger_reasons == ("ACCURACY", "DATA_DRIFT")
    assert policy.data_window == timedelta(days=14) and policy.cool_down == timedelta(hours=6)
    assert policy.triggers_on("ACCURACY") and not policy.triggers_on("ERRORS")


@pytest.mark.parametrize(
    ("patch", "says"),
    [
        (
            {"trigger_reasons": ["BOREDOM"]},
            r"retraining\.trigger_reasons\.0: Input should be 'ACCURACY', .* or 'OTHER', got 'BOREDOM'",
        ),
        ({"trigger_reasons": "ACCURACY"}, r"retraining\.trigger_reasons: .*valid tuple, got 'ACCURACY'"),
        (
            {"cool_down": "a day"},
            r"retraining\.cool_down: Input should be an ISO-8601 duration .*got 'a day'",
        ),
        ({"cool_down": "P1M"}, r"retraining\.cool_down: .*no years or months.*got 'P1M'"),
        ({"data_window": 7, "timestamp_column": "t"}, r"retraining\.data_window: .*ISO-8601 duration.*got 7"),
        (
            {"replacement": "maybe"},
            r"retraining\.replacement: Input should be 'automatic' or 'approval', got 'maybe'",
        ),
        ({"margin": -1}, r"retraining\.margin: Input should be greater than or equal to 0, got -1"),
        ({"margin": True}, r"retraining\.margin: Input should be a valid number, got True"),
        ({"source": ""}, r"retraining\.source: String should have at least 1 character, got ''"),
        (
            {"refresh_schedule": "every monday"},
            r"retraining\.refresh_schedule: Input should be a cron expression .*got 'every monday'",
        ),
        ({"data_window": "P7D"}, r"retraining: data_window needs timestamp_column"),
        (
            {"colour": "blue"},
            r"retraining: unknown field 'colour'; valid fields: \['source', 'trigger_reasons'",
        ),
    ],
)
def test_bad_values_name_the_field(patch: dict[str, object], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        _policy(**patch)


def test_durations_take_any_iso_form_and_are_stored_in_one() -> None:
    settings = default_settings()
    section = validate_section(
        "retraining",
        {"cool_down": "PT90M", "data_window": "P1DT12H", "timestamp_column": "t"},
        settings,
        target_type="Binary",
    )
    assert (section["cool_down"], section["data_window"]) == ("PT1H30M", "P1DT12H")
    policy = _policy(cool_down="PT90M", data_window="P2W", timestamp_column="t")
    assert (policy.cool_down, policy.data_window) == (timedelta(minutes=90), timedelta(days=14))
    # A timedelta is taken as it is; the stored text is the normal form.
    assert (
        validate_section("retraining", {"cool_down": timedelta(hours=36)}, settings, target_type="Binary")[
            "cool_down"
        ]
        == "P1DT12H"
    )


def test_stored_policies_written_by_earlier_versions_still_read() -> None:
    stored = {"retraining": {"cool_down": "PT24H", "data_window": "P7D", "timestamp_column": "t"}}
    policy = RetrainingPolicy.from_settings(stored)
    assert (policy.cool_down, policy.data_window) == (timedelta(days=1), timedelta(days=7))
    assert policy.replacement == "automatic"  # fields added since take their defaults


def test_the_policy_model_is_the_section_and_its_rules() -> None:
    assert RetrainingPolicy().model_dump(mode="json")["cool_down"] == "P1D"
    assert RetrainingPolicy(trigger_reasons=["OTHER", "ACCURACY", "OTHER"]).trigger_reasons == (
        "ACCURACY",
        "OTHER",
    )
    assert RetrainingPolicy(cool_down="PT12H").model_dump(mode="json", by_alias=True)["coolDown"] == "PT12H"
    with pytest.raises(ValidationError, match="data_window needs timestamp_column"):
        RetrainingPolicy(data_window="P1D")


def test_refresh_due_sees_each_firing_in_exactly_one_interval() -> None:
    policy = _policy(refresh_schedule="0 3 * * 1")  # Mondays 03:00
    hours = [T + timedelta(hours=h) for h in range(0, 24 * 14)]  # two weeks of hourly runs
    fired = [end for start, end in itertools.pairwise(hours) if policy.refresh_due(start, end)]
    assert fired == [T + timedelta(hours=3), T + timedelta(days=7, hours=3)]
    # A longer interval still sees it once, at the firing time, not the interval's end.
    assert policy.refresh_due(T, T + timedelta(days=1)) == T + timedelta(hours=3)
    assert policy.refresh_due(T + timedelta(hours=3), T + timedelta(days=1)) is None  # start is exclusive
    assert _policy().refresh_due(T, T + timedelta(days=30)) is None  # no schedule, no refresh
