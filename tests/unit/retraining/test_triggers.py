"""Which reason a pass summary's failing healths give, and the evidence each carries."""

from __future__ import annotations

from typing import Any

from airflow_mlops.retraining.triggers import PRIORITY, failing_reasons

WINDOW = {"window_start": "2024-03-01T10:00:00+00:00", "window_end": "2024-03-01T13:00:00+00:00"}


def _fairness(status: str) -> dict[str, Any]:
    scores = [
        {"label": "F", "passed": False, "isStatisticallySignificant": True, "value": 0.5},
        {"label": "X", "passed": False, "isStatisticallySignificant": False, "value": 0.4},
        {"label": "M", "passed": True, "isStatisticallySignificant": True, "value": 1.0},
    ]
    return {
        **WINDOW,
        "fairness_status": status,
        "fairness_message": "failing: 1 group below the fairness threshold 0.8: gender=F …",
        "fairness": [
            {
                "protectedFeature": "gender",
                "metricName": "proportionalParity",
                "fairnessThreshold": 0.8,
                "privilegedClass": "M",
                "scores": scores,
            }
        ],
    }


def test_failing_fairness_is_reason_other_with_the_failing_groups() -> None:
    reasons = failing_reasons(_fairness("failing"))
    assert list(reasons) == ["OTHER"]
    evidence = reasons["OTHER"]
    assert evidence["kind"] == "fairness" and evidence["window_end"] == WINDOW["window_end"]
    # only significant groups that failed: X has too few rows to count
    assert [s["label"] for s in evidence["fairness"][0]["failing"]] == ["F"]
    assert evidence["fairness"][0]["privilegedClass"] == "M"


def test_fairness_warning_requests_nothing_and_comes_after_the_model_reasons() -> None:
    assert failing_reasons(_fairness("warning")) == {}
    both = {**_fairness("failing"), "accuracy_status": "failing", "accuracy_message": "failing: AUC"}
    assert list(failing_reasons(both)) == ["ACCURACY", "OTHER"]
    assert PRIORITY[-1] == "OTHER"
