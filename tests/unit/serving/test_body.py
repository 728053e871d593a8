"""The body limits read from the environment: a bad value stops the server at start-up, named."""

from __future__ import annotations

import pytest

from airflow_mlops.serving.body import BodyLimits


def test_limits_default_and_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_BODY_READ_TIMEOUT_S", raising=False)
    monkeypatch.delenv("MLOPS_BODY_BYTES_IN_FLIGHT", raising=False)
    assert (BodyLimits.from_environment().read_timeout_s, BodyLimits.from_environment().in_flight_bytes) == (
        30.0,
        None,
    )
    monkeypatch.setenv("MLOPS_BODY_READ_TIMEOUT_S", "2.5")
    monkeypatch.setenv("MLOPS_BODY_BYTES_IN_FLIGHT", "1000")
    limits = BodyLimits.from_environment()
    assert (limits.read_timeout_s, limits.in_flight_bytes) == (2.5, 1000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MLOPS_BODY_READ_TIMEOUT_S", "0"),
        ("MLOPS_BODY_READ_TIMEOUT_S", "soon"),
        ("MLOPS_BODY_BYTES_IN_FLIGHT", "-1"),
    ],
)
def test_a_bad_value_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}={value!r} is not valid: expected a positive number"):
        BodyLimits.from_environment()
