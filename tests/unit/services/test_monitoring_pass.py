"""One monitoring pass: fold, drift over the window, a health verdict stored every time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring import Baseline, DriftHealthSettings, build_baseline, drift_score
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
from airflow_mlops.monitoring.windows import window_counts
from airflow_mlops.prediction_log import PredictionLogWriter, list_log_files
from airflow_mlops.services import monitor_deployment
from airflow_mlops.store import HealthRow, session_scope

DEP = "dep1"
TARGET = "churned"
H10 = datetime(2024, 3, 1, 10, tzinfo=UTC)

Row = dict[str, Any]


@pytest.fixture
def settings(mlops_home: Path) -> Settings:
    return get_settings()


def _deploy(
    settings: Settings,
    *,
    model_version: str = "1",
    baseline_versions: tuple[str, ...] = ("1",),
    deployment_settings: dict[str, Any] | None = None,
) -> None:
    rng = np.random.default_rng(0)
    n = 5000
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(40.0, 10.0, n),
            "plan": rng.choice(["basic", "pro", "enterprise"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    baseline = build_baseline(frame, prediction=pd.Series(rng.beta(2.0, 5.0, n)), prediction_name=TARGET)
    insert_deployment_with_baseline(
        settings.store_url,
        DEP,
        baseline,
        model_version=model_version,
        baseline_versions=baseline_versions,
        label="churn",
        registered_model_name="churn",
        target_name=TARGET,
        settings=deployment_settings,
    )


def _log(
    settings: Settings, n: int, hour: datetime, *, seed: int, shift: float = 0.0, version: str = "1"
) -> None:
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 3600, n)
    tenure = rng.normal(40.0 + shift, 10.0, n)
    plan = rng.choice(["basic", "pro", "enterprise"], n, p=[0.6, 0.3, 0.1])
    prediction = rng.beta(2.0, 5.0, n)
    rows: list[Row] = [
        {
            "timestamp": hour + timedelta(seconds=int(seconds[i])),
            "association_id": f"{seed}-{i}",
            "model_version": version,
            "prediction": float(prediction[i]),
            "status_code": 200,
            "latency_ms": 4.0,
            "features": {"tenure": float(tenure[i]), "plan": str(plan[i])},
        }
        for i in range(n)
    ]
    with PredictionLogWriter(settings.prediction_log_dir, max_rows=1_000_000, max_delay_s=60.0) as writer:
        writer.append(DEP, rows)


def _health_rows(settings: Settings) -> list[HealthRow]:
    with session_scope(settings.store_url) as session:
        return list(
            session.scalars(
                select(HealthRow)
                .where(HealthRow.deployment_id == DEP, HealthRow.kind == "drift")
                .order_by(HealthRow.id)
            )
        )


def test_same_distribution_traffic_passes(settings: Settings) -> None:
    _deploy(settings)
    for k in range(3):
        _log(settings, 700, H10 + timedelta(hours=k), seed=k)

    result = monitor_deployment(
        DEP, settings, window_end=H10 + timedelta(hours=2, minutes=30), window_hours=3
    )

    assert result.drift_status == HEALTH_STATUS.PASSING
    assert result.drift_message.startswith("passing: no feature drifted (2 checked;")
    assert set(result.drift) == {"tenure", "plan"}
    assert all(score < 0.05 for score in result.drift.values())
    assert result.target_drift is not None and result.target_drift < 0.05
    assert (result.window_start, result.window_end) == (H10, H10 + timedelta(hours=3))
    assert result.predictions_per_hour == {H10 + timedelta(hours=k): 700 for k in range(3)}
    assert result.folded_rows == 2100
    assert result.sample_sizes == {"tenure": 2100, "plan": 2100, TARGET: 2100}
    assert result.model_version == "1"
    (row,) = _health_rows(settings)
    assert (row.kind, row.status, row.message) == ("drift", "passing", result.drift_message)
    assert (row.window_start, row.window_end) == (result.window_start, result.window_end)
    assert row.details["scores"] == pytest.approx(result.drift)
    assert row.details["model_version"] == "1"
    assert Deployment.get(DEP, store_url=settings.store_url).model_health["status"] == "passing"
    xcom = result.to_xcom()
    assert xcom["drift_status"] == "passing"
    assert xcom["predictions_per_hour"] == {(H10 + timedelta(hours=k)).isoformat(): 700 for k in range(3)}


def test_shifted_traffic_fails_and_names_the_drifted_feature(settings: Settings) -> None:
    _deploy(settings)
    _log(settings, 600, H10, seed=1, shift=12.0)
    _log(settings, 600, H10 + timedelta(hours=1), seed=2, shift=12.0)

    result = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=1, minutes=5), window_hours=2)

    assert result.drift_status == HEALTH_STATUS.FAILING
    assert result.drift["tenure"] >= 0.15 > result.drift["plan"]
    # Judged by the default distribution rule, which names the statistic that saw it.
    assert result.drift_message.startswith("failing: 1 high-importance feature drifted: tenure wasserstein=")
    assert "plan" not in result.drift_message
    verdicts = result.to_xcom()["drift_verdicts"]
    assert verdicts["tenure"]["drifted"] and not verdicts["plan"]["drifted"]
    assert verdicts["tenure"]["statistic"] == "wasserstein" and TARGET not in verdicts
    assert [(row.status, row.message) for row in _health_rows(settings)] == [
        ("failing", result.drift_message)
    ]


def test_window_covers_whole_hours_up_to_the_one_holding_window_end(settings: Settings) -> None:
    _deploy(settings)
    _log(settings, 300, H10 - timedelta(hours=1), seed=1, shift=25.0)  # before the window: not judged
    _log(settings, 300, H10, seed=2)
    _log(settings, 300, H10 + timedelta(hours=1), seed=3, shift=25.0)  # after window_end's hour

    result = monitor_deployment(DEP, settings, window_end=H10 + timedelta(minutes=59), window_hours=1)

    assert (result.window_start, result.window_end) == (H10, H10 + timedelta(hours=1))
    assert result.predictions_per_hour == {H10: 300}
    assert result.folded_rows == 900  # everything new is folded, whatever the window
    assert result.drift_status == HEALTH_STATUS.PASSING
    # A window_end exactly on the hour ends there.
    on_the_hour = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=1), window_hours=1)
    assert (on_the_hour.window_start, on_the_hour.window_end) == (H10, H10 + timedelta(hours=1))
    assert on_the_hour.folded_rows == 0


def test_empty_window_is_unknown(settings: Settings) -> None:
    _deploy(settings)
    _log(settings, 300, H10, seed=1, shift=25.0)

    result = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=5), window_hours=2)

    assert result.drift_status == HEALTH_STATUS.UNKNOWN
    assert result.drift_message == "unknown: no feature has drift scores in this window"
    assert (result.drift, result.target_drift, result.predictions_per_hour) == ({}, None, {})
    assert [row.status for row in _health_rows(settings)] == ["unknown"]


def test_model_version_without_baseline_is_unknown(settings: Settings) -> None:
    _deploy(settings, model_version="2", baseline_versions=("1",))
    _log(settings, 400, H10, seed=1, shift=25.0, version="2")

    result = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=1), window_hours=1)

    assert result.drift_status == HEALTH_STATUS.UNKNOWN
    assert result.drift_message == "unknown: this model version has no baseline"
    assert (result.drift, result.sample_sizes, result.target_drift) == ({}, {}, None)
    assert result.predictions_per_hour == {H10: 400}  # still counted as service
    (row,) = _health_rows(settings)
    assert (row.status, row.details["model_version"]) == ("unknown", "2")


def test_a_health_row_is_stored_on_every_pass(settings: Settings) -> None:
    _deploy(settings)
    _log(settings, 500, H10, seed=1)

    first = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=1), window_hours=1)
    _log(settings, 500, H10 + timedelta(hours=1), seed=2, shift=20.0)
    second = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=2), window_hours=1)
    third = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=2), window_hours=1)

    assert (first.folded_rows, second.folded_rows, third.folded_rows) == (500, 500, 0)
    assert [row.status for row in _health_rows(settings)] == ["passing", "failing", "failing"]
    assert third.drift == pytest.approx(second.drift, rel=1e-12)  # re-running does not double-count
    assert Deployment.get(DEP, store_url=settings.store_url).model_health["status"] == "failing"


def test_disabled_feature_drift_gives_no_feature_scores(settings: Settings) -> None:
    disabled = {"drift_tracking": {"feature_drift": {"enabled": False}, "target_drift": {"enabled": True}}}
    _deploy(settings, deployment_settings=disabled)
    _log(settings, 500, H10, seed=1, shift=25.0)

    result = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=1), window_hours=1)

    assert result.drift == {}
    assert result.drift_status == HEALTH_STATUS.UNKNOWN  # shifted traffic, but nobody asked to judge it
    (row,) = _health_rows(settings)
    assert row.details["scores"] == {}


@pytest.mark.parametrize("hours", [0, -3])
def test_window_hours_below_one_is_rejected(settings: Settings, hours: int) -> None:
    _deploy(settings)
    with pytest.raises(ValueError, match=f"window_hours={hours}"):
        monitor_deployment(DEP, settings, window_end=H10, window_hours=hours)
    assert _health_rows(settings) == []


def test_disabled_target_drift_gives_no_target_score(settings: Settings) -> None:
    disabled = {"drift_tracking": {"feature_drift": {"enabled": True}, "target_drift": {"enabled": False}}}
    _deploy(settings, deployment_settings=disabled)
    _log(settings, 500, H10, seed=1)

    result = monitor_deployment(DEP, settings, window_end=H10 + timedelta(hours=1), window_hours=1)

    assert result.target_drift is None
    assert set(result.drift) == {"tenure", "plan"}
    (row,) = _health_rows(settings)
    assert row.details["target_drift"] is None


def test_scores_use_the_metric_health_judges_them_by(settings: Settings) -> None:
    _deploy(settings)
    _log(settings, 800, H10, seed=1, shift=6.0)
    start, end = H10, H10 + timedelta(hours=1)
    health = DriftHealthSettings(rule="threshold", metric="hellinger", drift_threshold=0.1)

    result = monitor_deployment(DEP, settings, window_end=end, window_hours=1, health_settings=health)

    baseline = Baseline.from_dict(Deployment.get(DEP, store_url=settings.store_url).get_baseline() or {})
    counts = window_counts(settings.store_url, DEP, "1", start, end)
    by_hand = {
        name: drift_score("hellinger", baseline.baseline_counts[name], vector, baseline.bins(name))
        for name, vector in counts.items()
    }
    assert result.drift == pytest.approx({k: v for k, v in by_hand.items() if k != TARGET}, rel=1e-12)
    assert result.target_drift == pytest.approx(by_hand[TARGET], rel=1e-12)
    assert result.drift_status == HEALTH_STATUS.FAILING
    assert result.drift_message.startswith("failing: 1 high-importance feature drifted: tenure hellinger=")


def test_the_pass_compacts_closed_hours_and_applies_retention_after_folding(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deploy(settings)
    for seed in range(3):  # three files in hour 10, one in hour 11; both long closed
        _log(settings, 100, H10, seed=seed)
    _log(settings, 50, H10 + timedelta(hours=1), seed=9)
    messages: list[str] = []

    first = monitor_deployment(
        DEP,
        settings,
        window_end=H10 + timedelta(hours=1, minutes=5),
        window_hours=2,
        progress=messages.append,
    )

    assert first.folded_rows == 350
    assert first.to_xcom()["log_lifecycle"] == {
        "compacted_hours": 1,
        "compacted_files": 3,
        "compacted_rows": 300,
    }
    assert any(m.startswith("compacted 2/2 closed hours of") for m in messages)
    assert len(list_log_files(settings.prediction_log_dir, DEP)) == 2

    monkeypatch.setenv("MLOPS_PREDICTION_LOG_RETENTION_DAYS", "1")
    retained = monitor_deployment(
        DEP,
        get_settings(),
        window_end=H10 + timedelta(hours=1, minutes=5),
        window_hours=2,
        progress=messages.append,
    )

    assert retained.to_xcom()["log_lifecycle"]["expired_rows"] == 350
    assert list_log_files(settings.prediction_log_dir, DEP) == []
    assert any(m.startswith("retention (1 days) for") for m in messages)
    # Buckets stay: the same window still has its predictions and drift.
    assert (
        retained.predictions_per_hour
        == first.predictions_per_hour
        == {H10: 300, H10 + timedelta(hours=1): 50}
    )
    assert retained.drift == pytest.approx(first.drift, rel=1e-12)
