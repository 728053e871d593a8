"""Service and accuracy health rules: every status, the thresholds' edges, and messages saying why."""

from __future__ import annotations

import pytest

from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring import ServiceHealthSettings, accuracy_health, service_health


def _stats(requests: int, server: float = 0.0, user: float = 0.0, slow: int = 0) -> dict[str, object]:
    return {"totalRequests": requests, "serverErrorRate": server, "userErrorRate": user, "slowRequests": slow}


@pytest.mark.parametrize(
    ("stats", "status", "words"),
    [
        (_stats(0), HEALTH_STATUS.UNKNOWN, "0 requests"),
        (_stats(100), HEALTH_STATUS.PASSING, "server errors 0.0%"),
        (_stats(100, server=0.01), HEALTH_STATUS.WARNING, "server errors 1.0% >= 1.0%"),
        (_stats(100, server=0.05), HEALTH_STATUS.FAILING, "server errors 5.0% >= 5.0%"),
        (_stats(100, user=0.049), HEALTH_STATUS.PASSING, "user errors 4.9%"),
        (_stats(100, user=0.2), HEALTH_STATUS.FAILING, "user errors 20.0%"),
        (_stats(100, slow=5), HEALTH_STATUS.WARNING, "slow requests (> 1000 ms) 5.0%"),
    ],
)
def test_service_health_defaults(stats: dict[str, object], status: HEALTH_STATUS, words: str) -> None:
    got, message = service_health(stats)
    assert got is status
    assert message.startswith(status.value) and words in message


def test_service_health_settings_are_configurable_and_validated() -> None:
    strict = ServiceHealthSettings(server_error_warning=0.0, server_error_failing=0.001, min_requests=10)
    assert service_health(_stats(5), strict)[0] is HEALTH_STATUS.UNKNOWN
    assert service_health(_stats(100, server=0.002), strict)[0] is HEALTH_STATUS.FAILING
    with pytest.raises(ValueError, match=r"slow_warning \(0.5\) must not exceed slow_failing \(0.2\)"):
        ServiceHealthSettings(slow_warning=0.5)
    with pytest.raises(ValueError, match=r"user_error_failing\n.*less than or equal to 1.*input_value=2"):
        ServiceHealthSettings(user_error_failing=2)
    with pytest.raises(ValueError, match=r"response_time_warning_ms \(500\) must not exceed"):
        ServiceHealthSettings(response_time_warning_ms=500, response_time_failing_ms=200)


@pytest.mark.parametrize(
    ("value", "baseline", "higher", "measurement", "status"),
    [
        (0.55, 0.5, False, "percent", HEALTH_STATUS.WARNING),  # LogLoss 10% worse
        (0.54, 0.5, False, "percent", HEALTH_STATUS.PASSING),
        (0.61, 0.5, False, "percent", HEALTH_STATUS.FAILING),
        (0.40, 0.5, False, "percent", HEALTH_STATUS.PASSING),  # better is fine
        (0.70, 0.8, True, "value", HEALTH_STATUS.WARNING),  # AUC 0.1 lower
        (0.55, 0.8, True, "value", HEALTH_STATUS.FAILING),
    ],
)
def test_accuracy_health_compares_with_the_holdout(
    value: float, baseline: float, higher: bool, measurement: str, status: HEALTH_STATUS
) -> None:
    got, message = accuracy_health(
        value, baseline, metric="M", higher_is_better=higher, measurement=measurement, pairs=10
    )
    assert got is status, message
    assert "holdout" in message and "10 rows" in message


def test_accuracy_health_without_data_or_reference() -> None:
    assert (
        accuracy_health(None, 0.5, metric="LogLoss", higher_is_better=False, pairs=0)[0]
        is HEALTH_STATUS.UNAVAILABLE
    )
    assert (
        accuracy_health(0.5, None, metric="LogLoss", higher_is_better=False, pairs=3)[0]
        is HEALTH_STATUS.UNKNOWN
    )
    assert (
        accuracy_health(None, 0.5, metric="AUC", higher_is_better=True, pairs=3)[0] is HEALTH_STATUS.UNKNOWN
    )
    with pytest.raises(ValueError, match=r"measurement='ratio'.*'percent', 'value'"):
        accuracy_health(0.5, 0.5, metric="AUC", higher_is_better=True, measurement="ratio", pairs=3)
