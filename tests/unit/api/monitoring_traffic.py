"""Monitoring traffic for the API tests: baselines, predictions at chosen times, the fold.

Shared by the raw-HTTP monitoring tests and the official-client ones, so both
read numbers made the same way: predictions go through the real prediction route
with their event times (``timestampColumn``), then the prediction log is flushed
and folded (and actuals joined) as the monitoring DAG would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd

from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring import Baseline, build_baseline
from airflow_mlops.monitoring.fold import fold_new_predictions, join_actuals

if TYPE_CHECKING:
    from conftest import LiveServer

D = "/api/v2/deployments"
#: The hour every story starts at (a fixed past hour, so windows are exact).
H = datetime(2024, 3, 1, 10, tzinfo=UTC)
NUMERIC = "monthly_charges"
CATEGORY = "contract"
TARGET = "churned"


def drift_baseline(server: LiveServer) -> Baseline:
    """The churn features' baseline, with made-up prediction scores and two features' importance."""
    train = server.models.train
    probabilities = pd.Series(np.random.default_rng(0).beta(2.0, 5.0, len(train)))
    return build_baseline(
        train,
        server.models.features,
        prediction=probabilities,
        prediction_name=TARGET,
        importance={NUMERIC: 1.0, CATEGORY: 0.5},
    )


def score(client: httpx.Client, deployment: Deployment, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows (with a ``ts`` column of datetimes or ISO strings) through the JSON prediction route."""
    stamps = [t.isoformat() if isinstance(t, datetime) else t for t in rows["ts"]]
    response = client.post(
        f"/predApi/v1.0/deployments/{deployment.id}/predictions",
        params={"timestampColumn": "ts"},
        content=rows.assign(ts=stamps).to_json(orient="records"),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def fold(server: LiveServer, deployment: Deployment, *, join: bool = False) -> None:
    """What the monitoring pass does: flush the log, fold it, and (``join``) match actuals."""
    server.app.state.prediction_log.flush()
    fold_new_predictions(
        deployment.id, store_url=server.settings.store_url, log_root=server.settings.prediction_log_dir
    )
    if join:
        join_actuals(deployment.id, store_url=server.settings.store_url)


def scored_two_hours(server: LiveServer, client: httpx.Client, deployment: Deployment) -> pd.DataFrame:
    """40 rows in hour H with monthly charges shifted up, 20 unshifted in H+1; folded."""
    features = server.models.train[server.models.features]
    first = features.iloc[:40].assign(ts=H + timedelta(minutes=5))
    first[NUMERIC] = first[NUMERIC] + 40.0
    second = features.iloc[40:60].assign(ts=H + timedelta(hours=1, minutes=5))
    score(client, deployment, first)
    score(client, deployment, second)
    fold(server, deployment)
    return pd.concat([first, second], ignore_index=True)


def deploy_with_association(server: LiveServer, owner: str, model_id: str, target: str) -> Deployment:
    """A deployment whose baseline holds the training targets as predictions; association id ``row_key``."""
    train = server.models.train
    features = [c for c in server.models.features if c != target]
    predictions = train[target] if target == NUMERIC else train[target].astype(float)
    baseline = build_baseline(train, features, prediction=predictions, prediction_name=target)
    if target == TARGET:
        baseline.task, baseline.positive_class = "binary", "1"
    deployment = server.deploy(model_id, owner=owner, baseline=baseline.to_dict())
    deployment.update_association_id_settings(column_names=["row_key"])
    return deployment


def send_hours(
    server: LiveServer, client: httpx.Client, deployment: Deployment, hours: list[int], features: list[str]
) -> list[dict[str, Any]]:
    """One request per hour offset in ``hours`` (row i keyed ``k{i}``), folded; the route's answers."""
    answers = []
    for i, offset in enumerate(hours):
        row = (
            server.models.train[features]
            .iloc[[i]]
            .assign(ts=(H + timedelta(hours=offset, minutes=10)).isoformat(), row_key=f"k{i}")
        )
        answers.extend(score(client, deployment, row))
    fold(server, deployment)
    return answers
