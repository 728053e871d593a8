"""DataRobot's enum values, and parse_enum naming the valid values when a string is wrong."""

from __future__ import annotations

from enum import StrEnum

import pytest

from airflow_mlops.enums import (
    DATA_DRIFT_METRIC,
    DEPLOYMENT_IMPORTANCE,
    DEPLOYMENT_STATUS,
    HEALTH_STATUS,
    MODEL_REPLACEMENT_REASON,
    SERVICE_STAT_METRIC,
    parse_enum,
)
from airflow_mlops.monitoring import drift_metric_names

ENUMS: list[type[StrEnum]] = [
    MODEL_REPLACEMENT_REASON,
    SERVICE_STAT_METRIC,
    DATA_DRIFT_METRIC,
    HEALTH_STATUS,
    DEPLOYMENT_IMPORTANCE,
    DEPLOYMENT_STATUS,
]


@pytest.mark.parametrize("enum_cls", ENUMS, ids=lambda e: e.__name__)
def test_parse_enum_accepts_values_and_members(enum_cls: type[StrEnum]) -> None:
    for member in enum_cls:
        assert parse_enum(enum_cls, member.value, field="f") is member
        assert parse_enum(enum_cls, member, field="f") is member
        assert member == member.value  # a plain string compares equal


@pytest.mark.parametrize("enum_cls", ENUMS, ids=lambda e: e.__name__)
def test_parse_enum_error_names_the_field_the_value_and_every_valid_value(enum_cls: type[StrEnum]) -> None:
    with pytest.raises(ValueError) as info:
        parse_enum(enum_cls, "no such value", field="reason")
    valid = ", ".join(repr(m.value) for m in enum_cls)
    assert str(info.value) == f"reason='no such value' is not valid; expected one of {valid}"
    assert info.value.__suppress_context__  # the enum's own error is not chained in front of it


def test_values_are_spelled_like_datarobot() -> None:
    assert [m.value for m in MODEL_REPLACEMENT_REASON] == [
        "ACCURACY",
        "DATA_DRIFT",
        "ERRORS",
        "SCHEDULED_REFRESH",
        "SCORING_SPEED",
        "OTHER",
    ]
    assert SERVICE_STAT_METRIC.TOTAL_PREDICTIONS == "totalPredictions"
    assert HEALTH_STATUS.PASSING == "passing"
    assert DEPLOYMENT_STATUS.ACTIVE == "active"


def test_parse_enum_is_case_sensitive() -> None:
    with pytest.raises(ValueError, match="'data_drift' is not valid"):
        parse_enum(MODEL_REPLACEMENT_REASON, "data_drift", field="reason")


def test_every_data_drift_metric_is_a_registered_metric() -> None:
    assert {m.value for m in DATA_DRIFT_METRIC} <= set(drift_metric_names())
