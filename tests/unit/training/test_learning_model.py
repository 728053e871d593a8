"""A deployment made from a sweep's leaderboard model (``POST …/fromLearningModel/``) is monitored in full.

Its baseline is built by the same refit-and-register path as the training DAG's, so it
has holdout metrics (accuracy health can pass or fail once actuals arrive) and, for a
regression model, the default prediction-warning boundaries. Real parts throughout: an
ingested snapshot, an Optuna sweep with MLflow runs, the app under uvicorn on loopback,
the prediction log, the monitoring pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from helpers.learning_model import (
    accuracy_after,
    binary_frame,
    from_learning_model,
    live_client,
    predict,
    regression_frame,
    sweep_snapshot,
)

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.monitoring.warning_boundaries import BASELINE_KEY

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


@pytest.fixture
def live(mlops_home: Path) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = get_settings()
    with live_client(settings) as client:
        yield client, settings


def test_a_regression_learning_model_has_holdout_metrics_accuracy_health_and_warnings(
    live: tuple[httpx.Client, Settings],
) -> None:
    client, settings = live
    run_id = sweep_snapshot(settings, regression_frame(600, seed=1), "prices")[0]["run_id"]
    deployment = from_learning_model(client, run_id, "prices-lm")

    baseline = deployment.get_baseline()
    assert baseline is not None
    assert baseline["holdout_metrics"]["RMSE"] is not None and baseline["holdout_metrics"]["RMSE"] > 0
    bounds = baseline[BASELINE_KEY]
    assert bounds["lower"] < bounds["upper"]

    deployment.update_association_id_settings(column_names=["row_key"])
    deployment.update_prediction_warning_settings(True, use_default_boundaries=True)
    fresh = regression_frame(60, seed=2).drop(columns="y")

    # Actuals equal to what was predicted: the window's RMSE (0) beats the holdout's.
    status = accuracy_after(client, deployment, settings, fresh, lambda p: p, T0)
    assert status.startswith("passing"), status
    # Actuals far from every prediction: failing.
    status = accuracy_after(client, deployment, settings, fresh, lambda p: p + 500.0, T0 + timedelta(hours=2))
    assert status.startswith("failing"), status

    # x1 far beyond anything trained on: the prediction leaves the default boundaries.
    extreme = fresh.head(2).assign(x1=[5.0, 1000.0], at=T0.isoformat(), row_key=["w-0", "w-1"])
    answers = predict(client, deployment, extreme)
    flags = [a["predictionWarning"]["isOutlierPrediction"] for a in answers]
    assert flags == [False, True], answers


def test_a_binary_learning_model_reaches_passing_and_failing_accuracy(
    live: tuple[httpx.Client, Settings],
) -> None:
    client, settings = live
    run_id = sweep_snapshot(settings, binary_frame(600, seed=3), "signups")[0]["run_id"]
    deployment = from_learning_model(client, run_id, "signups-lm")

    baseline = deployment.get_baseline()
    assert baseline is not None
    assert baseline["holdout_metrics"]["LogLoss"] is not None
    assert BASELINE_KEY not in baseline  # warnings are for regression models only

    deployment.update_association_id_settings(column_names=["row_key"])
    fresh = binary_frame(80, seed=4).drop(columns="y")
    same = accuracy_after(client, deployment, settings, fresh, lambda p: p, T0)
    assert same.startswith("passing"), same
    flipped = accuracy_after(
        client, deployment, settings, fresh, lambda p: "no" if p == "yes" else "yes", T0 + timedelta(hours=2)
    )
    assert flipped.startswith("failing"), flipped
