"""The retraining policy: defaults, validation naming the field, cron firing per interval."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

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
        ({"trigger_reasons": ["BOREDOM"]}, r"retraining\.trigger_reasons must be a list of reasons from"),
        ({"cool_down": "a day"}, r"retraining\.cool_down must be an ISO-8601 duration"),
        ({"replacement": "maybe"}, r"retraining\.replacement='maybe' is not valid; expected one of"),
        ({"margin": -1}, r"retraining\.margin must be >= 0"),
        ({"refresh_schedule": "every monday"}, r"retraining\.refresh_schedule must be a cron expression"),
        ({"data_window": "P7D"}, r"retraining\.data_window needs retraining\.timestamp_column"),
        ({"colour": "blue"}, r"retraining: unknown field\(s\) \['colour'\]"),
    ],
)
def test_bad_values_name_the_field(patch: dict[str, object], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        _policy(**patch)


def test_refresh_due_sees_each_firing_in_exactly_one_interval() -> None:
    policy = _policy(refresh_schedule="0 3 * * 1")  # Mondays 03:00
    hours = [T + timedelta(hours=h) for h in range(0, 24 * 14)]  # two weeks of hourly runs
    fired = [end for start, end in itertools.pairwise(hours) if policy.refresh_due(start, end)]
    assert fired == [T + timedelta(hours=3), T + timedelta(days=7, hours=3)]
    # A longer interval still sees it once, at the firing time, not the interval's end.
    assert policy.refresh_due(T, T + timedelta(days=1)) == T + timedelta(hours=3)
    assert policy.refresh_due(T + timedelta(hours=3), T + timedelta(days=1)) is None  # start is exclusive
    assert _policy().refresh_due(T, T + timedelta(days=30)) is None  # no schedule, no refresh
