"""A deployment made from a sweep's leaderboard model (``POST …/fromLearningModel/``) is monitored in full.

Its baseline is built by the same refit-and-register path as the training DAG's, so it
has holdout metrics (accuracy health can pass or fail once actuals arrive) and, for a
regression model, the default prediction-warning boundaries. Real parts throughout: an
ingested snapshot, an Optuna sweep with MLflow runs, the app under uvicorn on loopback,
the prediction log, the monitoring pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from helpers.live_server import serve_app

from airflow_mlops.automl import SweepConfig, run_sweep
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.datasets import ingest, log_snapshot_input
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.warning_boundaries import BASELINE_KEY
from airflow_mlops.security import create_token
from airflow_mlops.services import monitor_deployment
from airflow_mlops.serving.app import create_app

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _regression_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(0, 10, n)
    x2 = rng.normal(0, 1, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    y = 5 * x1 + 2 * x2 + pd.Series(plan).map({"basic": 0.0, "plus": 3.0, "pro": -3.0}).to_numpy()
    return pd.DataFrame({"x1": x1, "x2": x2, "plan": plan, "y": y + rng.normal(0, 0.5, n)})


def _binary_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, 1, n)
    plan = rng.choice(["basic", "plus"], n)
    logit = 2 * x1 - x2 + np.where(plan == "plus", 1.0, -1.0)
    label = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"x1": x1, "x2": x2, "plan": plan, "y": label})


def _trial_run(settings: Settings, frame: pd.DataFrame, name: str) -> str:
    """Ingest ``frame``, run a small real sweep on the snapshot; the best trial's MLflow run id."""
    source = Path(settings.home) / f"{name}.csv"
    frame.to_csv(source, index=False)
    snapshot = ingest(str(source), dataset=name, target="y", snapshots_dir=settings.snapshots_dir)
    result = run_sweep(
        snapshot.train_frame(),
        SweepConfig(target="y", families=["linear"], n_trials=2, cv_folds=2, experiment_name=name),
    )
    # What AutoMLSweepOperator records: the snapshot as the sweep's dataset input.
    log_snapshot_input(snapshot, run_id=result.parent_run_id, tracking_uri=settings.mlflow_tracking_uri)
    return str(result.leaderboard_records()[0]["run_id"])


@pytest.fixture
def live(mlops_home: Path) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = get_settings()
    with serve_app(create_app(settings)) as url:
        _info, token = create_token(settings.store_url, user="owner", is_admin=True)
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as client:
            yield client, settings


def _from_learning_model(client: httpx.Client, run_id: str, name: str) -> Deployment:
    answer = client.post(
        "/api/v2/deployments/fromLearningModel/",
        json={"modelId": run_id, "registeredModelName": name, "label": f"{name} from a trial"},
    )
    assert answer.status_code == 201, answer.text
    return Deployment.get(answer.json()["id"])


def _predict(client: httpx.Client, deployment: Deployment, rows: pd.DataFrame, **params: Any) -> list[dict]:
    answer = client.post(
        f"/predApi/v1.0/deployments/{deployment.id}/predictions",
        content=rows.to_json(orient="records", date_format="iso"),
        headers={"Content-Type": "application/json"},
        params={"timestampColumn": "at", **params},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def _accuracy_after(
    client: httpx.Client,
    deployment: Deployment,
    settings: Settings,
    rows: pd.DataFrame,
    actual: Any,
    hour: datetime,
) -> str:
    """Predict ``rows`` at ``hour``, send ``actual(prediction)`` as each row's actual, run a pass."""
    rows = rows.assign(at=hour.isoformat(), row_key=[f"{hour:%H}-{i}" for i in range(len(rows))])
    answers = _predict(client, deployment, rows)
    actuals = pd.DataFrame(
        {
            "association_id": [a["associationId"] for a in answers],
            "actual_value": [actual(a["prediction"]) for a in answers],
        }
    )
    deployment.submit_actuals(actuals)
    return _monitor_when_logged(deployment, settings, hour)


def _monitor_when_logged(deployment: Deployment, settings: Settings, hour: datetime) -> str:
    """Run monitoring passes until the hour's predictions are folded (the server flushes within ~1 s)."""
    deadline = time.monotonic() + 30
    while True:
        result = monitor_deployment(
            deployment.id, settings, window_end=hour + timedelta(minutes=30), window_hours=1
        )
        if result.accuracy_status != "unavailable" or time.monotonic() > deadline:
            return f"{result.accuracy_status}: {result.accuracy_message}"
        time.sleep(0.3)


def test_a_regression_learning_model_has_holdout_metrics_accuracy_health_and_warnings(
    live: tuple[httpx.Client, Settings],
) -> None:
    client, settings = live
    run_id = _trial_run(settings, _regression_frame(600, seed=1), "prices")
    deployment = _from_learning_model(client, run_id, "prices-lm")

    baseline = deployment.get_baseline()
    assert baseline is not None
    assert baseline["holdout_metrics"]["RMSE"] is not None and baseline["holdout_metrics"]["RMSE"] > 0
    bounds = baseline[BASELINE_KEY]
    assert bounds["lower"] < bounds["upper"]

    deployment.update_association_id_settings(column_names=["row_key"])
    deployment.update_prediction_warning_settings(True, use_default_boundaries=True)
    fresh = _regression_frame(60, seed=2).drop(columns="y")

    # Actuals equal to what was predicted: the window's RMSE (0) beats the holdout's.
    status = _accuracy_after(client, deployment, settings, fresh, lambda p: p, T0)
    assert status.startswith("passing"), status
    # Actuals far from every prediction: failing.
    status = _accuracy_after(
        client, deployment, settings, fresh, lambda p: p + 500.0, T0 + timedelta(hours=2)
    )
    assert status.startswith("failing"), status

    # x1 far beyond anything trained on: the prediction leaves the default boundaries.
    extreme = fresh.head(2).assign(x1=[5.0, 1000.0], at=T0.isoformat(), row_key=["w-0", "w-1"])
    answers = _predict(client, deployment, extreme)
    flags = [a["predictionWarning"]["isOutlierPrediction"] for a in answers]
    assert flags == [False, True], answers


def test_a_binary_learning_model_reaches_passing_and_failing_accuracy(
    live: tuple[httpx.Client, Settings],
) -> None:
    client, settings = live
    run_id = _trial_run(settings, _binary_frame(600, seed=3), "signups")
    deployment = _from_learning_model(client, run_id, "signups-lm")

    baseline = deployment.get_baseline()
    assert baseline is not None
    assert baseline["holdout_metrics"]["LogLoss"] is not None
    assert BASELINE_KEY not in baseline  # warnings are for regression models only

    deployment.update_association_id_settings(column_names=["row_key"])
    fresh = _binary_frame(80, seed=4).drop(columns="y")
    same = _accuracy_after(client, deployment, settings, fresh, lambda p: p, T0)
    assert same.startswith("passing"), same
    flipped = _accuracy_after(
        client, deployment, settings, fresh, lambda p: "no" if p == "yes" else "yes", T0 + timedelta(hours=2)
    )
    assert flipped.startswith("failing"), flipped
