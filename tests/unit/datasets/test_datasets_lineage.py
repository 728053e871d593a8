"""A snapshot logged as an MLflow dataset input, against a real SQLite tracking store."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from airflow_mlops.datasets import ingest, log_snapshot_input


def test_snapshot_is_a_dataset_input_of_the_run(churn_csv: Path, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    snap = ingest(churn_csv, dataset="churn", target="churned", snapshots_dir=tmp_path / "s")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = MlflowClient(tracking_uri=uri)
        experiment = client.create_experiment("lineage", artifact_location=(tmp_path / "artifacts").as_uri())
        run = client.create_run(experiment)
        evaluation = client.create_run(experiment)

    log_snapshot_input(snap, run_id=run.info.run_id, tracking_uri=uri)
    log_snapshot_input(snap, run_id=evaluation.info.run_id, tracking_uri=uri, context="evaluation")

    by_context = {}
    for run_id in (run.info.run_id, evaluation.info.run_id):
        (logged,) = client.get_run(run_id).inputs.dataset_inputs
        by_context[next(t.value for t in logged.tags if t.key == "mlflow.data.context")] = logged
    assert set(by_context) == {"training", "evaluation"}
    dataset = by_context["training"].dataset
    assert (dataset.name, dataset.digest) == ("churn", snap.version)
    assert str(snap.path) in dataset.source
    assert json.loads(dataset.profile) == snap.profile()
    columns = [c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]]
    assert columns == list(snap.train_frame().columns)
    tags = {t.key: t.value for t in by_context["training"].tags}
    assert tags["mlops.dataset.version"] == snap.version


def test_context_is_validated(churn_csv: Path, tmp_path: Path) -> None:
    snap = ingest(churn_csv, dataset="churn", target="churned", snapshots_dir=tmp_path / "s")
    with pytest.raises(ValueError, match="context must be a non-empty string"):
        log_snapshot_input(snap, run_id="x", tracking_uri="sqlite:///unused.db", context=" ")
