"""Deploying a sweep's leaderboard model and watching it: shared by the learning-model tests.

``from_learning_model`` deploys through ``POST …/fromLearningModel/``; ``accuracy_after``
predicts through the live app, submits actuals and runs monitoring passes until the hour
is folded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from airflow_mlops.automl import SweepConfig, run_sweep
from airflow_mlops.config import Settings
from airflow_mlops.datasets import ingest, log_snapshot_input
from airflow_mlops.deployments import Deployment
from airflow_mlops.security import create_token
from airflow_mlops.services import monitor_deployment
from airflow_mlops.serving.app import create_app
from helpers.live_server import serve_app


def regression_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(0, 10, n)
    x2 = rng.normal(0, 1, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    y = 5 * x1 + 2 * x2 + pd.Series(plan).map({"basic": 0.0, "plus": 3.0, "pro": -3.0}).to_numpy()
    return pd.DataFrame({"x1": x1, "x2": x2, "plan": plan, "y": y + rng.normal(0, 0.5, n)})


def binary_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, 1, n)
    plan = rng.choice(["basic", "plus"], n)
    logit = 2 * x1 - x2 + np.where(plan == "plus", 1.0, -1.0)
    label = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"x1": x1, "x2": x2, "plan": plan, "y": label})


def sweep_snapshot(settings: Settings, frame: pd.DataFrame, name: str, **config: Any) -> list[dict[str, Any]]:
    """Ingest ``frame``, run a small real sweep on the snapshot; its leaderboard records, best first.

    ``config`` overrides the sweep's settings (one family, two trials, two folds, no ensemble).
    """
    source = Path(settings.home) / f"{name}.csv"
    frame.to_csv(source, index=False)
    snapshot = ingest(str(source), dataset=name, target="y", snapshots_dir=settings.snapshots_dir)
    settings_: dict[str, Any] = {"families": ["linear"], "n_trials": 2, "cv_folds": 2, "ensemble": False}
    settings_.update(config)
    result = run_sweep(snapshot.train_frame(), SweepConfig(target="y", experiment_name=name, **settings_))
    # What AutoMLSweepOperator records: the snapshot as the sweep's dataset input.
    log_snapshot_input(snapshot, run_id=result.parent_run_id, tracking_uri=settings.mlflow_tracking_uri)
    return result.leaderboard_records()


@contextmanager
def live_client(settings: Settings) -> Iterator[httpx.Client]:
    """The app under uvicorn on loopback and an admin's client for it."""
    with serve_app(create_app(settings)) as url:
        _info, token = create_token(settings.store_url, user="owner", is_admin=True)
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as client:
            yield client


def from_learning_model(client: httpx.Client, run_id: str, name: str) -> Deployment:
    answer = client.post(
        "/api/v2/deployments/fromLearningModel/",
        json={"modelId": run_id, "registeredModelName": name, "label": f"{name} from a trial"},
    )
    assert answer.status_code == 201, answer.text
    return Deployment.get(answer.json()["id"])


def predict(client: httpx.Client, deployment: Deployment, rows: pd.DataFrame, **params: Any) -> list[dict]:
    answer = client.post(
        f"/predApi/v1.0/deployments/{deployment.id}/predictions",
        content=rows.to_json(orient="records", date_format="iso"),
        headers={"Content-Type": "application/json"},
        params={"timestampColumn": "at", **params},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def accuracy_after(
    client: httpx.Client,
    deployment: Deployment,
    settings: Settings,
    rows: pd.DataFrame,
    actual: Any,
    hour: datetime,
) -> str:
    """Predict ``rows`` at ``hour``, send ``actual(prediction)`` as each row's actual, run a pass."""
    rows = rows.assign(at=hour.isoformat(), row_key=[f"{hour:%H}-{i}" for i in range(len(rows))])
    answers = predict(client, deployment, rows)
    actuals = pd.DataFrame(
        {
            "association_id": [a["associationId"] for a in answers],
            "actual_value": [actual(a["prediction"]) for a in answers],
        }
    )
    deployment.submit_actuals(actuals)
    return monitor_when_logged(deployment, settings, hour)


def monitor_when_logged(deployment: Deployment, settings: Settings, hour: datetime) -> str:
    """Run monitoring passes until the hour's predictions are folded (the server flushes within ~1 s)."""
    deadline = time.monotonic() + 30
    while True:
        result = monitor_deployment(
            deployment.id, settings, window_end=hour + timedelta(minutes=30), window_hours=1
        )
        if result.accuracy_status != "unavailable" or time.monotonic() > deadline:
            return f"{result.accuracy_status}: {result.accuracy_message}"
        time.sleep(0.3)
