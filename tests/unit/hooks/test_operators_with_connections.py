"""A real operator run whose MLflow tracking store is given only as an Airflow connection.

The sweep's runs must land in the connection's store, and nothing in the
default one under ``MLOPS_HOME``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from airflow_mlops.datasets import ingest, make_churn
from airflow_mlops.operators import AutoMLSweepOperator


def test_a_sweep_logs_to_the_tracking_store_of_the_mlflow_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MLOPS_HOME", str(home))
    tracking = f"sqlite:///{tmp_path / 'team-mlflow.db'}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        json.dumps({"conn_type": "mlflow", "extra": {"tracking_uri": tracking}}),
    )
    source = home / "churn.csv"
    home.mkdir(parents=True)
    make_churn(400, seed=3).to_csv(source, index=False)
    # Ingested without an operator, so only the sweep's own execute can have read the connection.
    snap = ingest(source, dataset="churn", target="churned", snapshots_dir=home / "snapshots")
    assert "MLFLOW_TRACKING_URI" not in os.environ

    result = AutoMLSweepOperator(
        task_id="sweep",
        snapshot={"dataset": snap.dataset, "version": snap.version},
        target="churned",
        experiment_name="through-a-connection",
        exclude_columns=["customer_id", "event_time"],
        families=["linear"],
        n_trials=2,
        timeout_s=120,
    ).execute({"run_id": "manual__1"})  # type: ignore[arg-type]

    assert os.environ["MLFLOW_TRACKING_URI"] == tracking, "exported for the task's process"
    client = MlflowClient(tracking_uri=tracking)
    parent = client.get_run(result["parent_run_id"])
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.name == "through-a-connection"
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) > 2, "the parent run and one run per trial"
    assert not (home / "mlflow.db").exists(), "nothing went to the default tracking store"
