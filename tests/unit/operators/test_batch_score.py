"""Batch scoring through a deployment: files and tables in chunks, logged exactly like real time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.operators.serving import BatchScoreOperator
from airflow_mlops.prediction_log import list_log_files, read_log_files
from airflow_mlops.registry import load_model
from airflow_mlops.serving.batch import BatchScoreError, batch_score

if TYPE_CHECKING:
    from conftest import EngineWatch, RegisteredModels

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _source(home: Path, n: int, suffix: str = ".csv") -> tuple[pd.DataFrame, Path]:
    frame = make_churn(n, seed=9, start=T0, hours=4).drop(columns=["churned"])
    path = home / f"to_score{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return frame, path


def test_a_file_is_scored_in_chunks_with_passthrough_and_logged(
    models: RegisteredModels, mlops_home: Path
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "batch")
    deployment.update_association_id_settings(column_names=["customer_id"])
    frame, path = _source(mlops_home, 2300)
    out = mlops_home / "scored" / "churn.parquet"
    operator = BatchScoreOperator(
        task_id="score",
        deployment_id=deployment.id,
        source=str(path),
        output_path=str(out),
        passthrough_columns=["customer_id"],
        timestamp_column="event_time",
        chunk_rows=500,
    )
    summary = operator.execute({})  # type: ignore[arg-type]
    assert summary["rows"] == 2300 and summary["chunks"] == 5 and summary["model_id"] == "churn/1"

    scored = pd.read_parquet(out)
    assert list(scored.columns) == [
        "customer_id",
        "churned_0_PREDICTION",
        "churned_1_PREDICTION",
        "churned_PREDICTION",
        "ASSOCIATION_ID",
    ]
    assert list(scored["customer_id"]) == list(frame["customer_id"])
    model = load_model(models.churn_v1, tracking_uri=models.tracking_uri)
    expected = model.predict_proba(pd.read_csv(path)[models.features])[:, 1]
    np.testing.assert_allclose(scored["churned_1_PREDICTION"], expected, rtol=1e-9)

    logged = read_log_files(list_log_files(get_settings().prediction_log_dir, deployment.id))
    assert len(logged) == 2300
    assert set(logged["data_collected"]) == {True} and set(logged["status_code"]) == {200}
    assert sorted(logged["association_id"]) == sorted(frame["customer_id"])
    # The explicit timestamp column decides each row's time (and hour partition), as for real time.
    assert list(logged.sort_values("association_id")["timestamp"]) == list(
        frame.sort_values("customer_id")["event_time"]
    )
    np.testing.assert_allclose(np.sort(logged["prediction"].to_numpy(float)), np.sort(expected), rtol=1e-9)
    # For service stats each chunk is one request, run by the DAG; cache hits are not a batch's to say.
    chunks = logged.groupby("request_id")
    assert chunks.ngroups == 5 and sorted(chunks.size()) == [300, 500, 500, 500, 500]
    assert set(logged["caller"]) == {f"airflow:{operator.dag_id}"}
    assert chunks["execution_ms"].nunique().eq(1).all() and (logged["execution_ms"] > 0).all()
    assert (logged["execution_ms"] < logged["latency_ms"]).all()
    assert "cache_hit" not in logged.columns


def test_a_bad_row_names_its_source_row_and_leaves_no_output(
    models: RegisteredModels, mlops_home: Path
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "batch-bad")
    frame, path = _source(mlops_home, 1200)
    frame["monthly_charges"] = frame["monthly_charges"].astype(object)
    frame.loc[1034, "monthly_charges"] = "lots"
    frame.to_csv(path, index=False)
    out = mlops_home / "bad.csv"
    with pytest.raises(
        BatchScoreError, match=r"source row 1034: column 'monthly_charges' value 'lots' is not a number"
    ):
        batch_score(deployment.id, source=str(path), output=str(out), chunk_rows=400)
    assert not out.exists() and not list(mlops_home.glob(".bad.csv*"))
    # The two chunks before the bad one were scored and are logged.
    logged = read_log_files(list_log_files(get_settings().prediction_log_dir, deployment.id))
    assert len(logged) == 800


def test_a_table_is_scored_with_every_column_passed_through(
    models: RegisteredModels, mlops_home: Path, watch_engines: Callable[[Path], EngineWatch]
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "batch-sql")
    frame = make_churn(900, seed=4).drop(columns=["churned", "event_time"])
    url = f"sqlite:///{mlops_home / 'crm.db'}"
    frame.to_sql("customers", url, index=False)
    watch = watch_engines(mlops_home / "crm.db")
    out = mlops_home / "from_table.csv"
    summary = batch_score(
        deployment.id,
        table="customers",
        connection=url,
        output=str(out),
        passthrough_all=True,
        chunk_rows=250,
    )
    assert (summary["rows"], summary["chunks"]) == (900, 4)
    scored = pd.read_csv(out)
    assert list(scored.columns[: len(frame.columns)]) == list(frame.columns)
    assert len(scored) == 900 and scored["churned_PREDICTION"].isin([0, 1]).all()
    assert len(watch.engines) == 1 and watch.left_open() == [], "the engine made from the URL is disposed"
    with pytest.raises(ValueError, match="outside the allowed roots"):
        batch_score(deployment.id, source="/etc/passwd.csv")


def test_a_table_through_a_connection_leaves_no_engine_open_whether_scoring_succeeds_or_fails(
    models: RegisteredModels,
    mlops_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    watch_engines: Callable[[Path], EngineWatch],
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "batch-conn")
    db = mlops_home / "crm.db"
    frame = make_churn(300, seed=4).drop(columns=["churned", "event_time"])
    frame.to_sql("customers", f"sqlite:///{db}", index=False)
    frame.drop(columns=["monthly_charges"]).to_sql("partial", f"sqlite:///{db}", index=False)
    monkeypatch.setenv("AIRFLOW_CONN_CRM", f'{{"conn_type": "sqlite", "host": "{db}"}}')
    watch = watch_engines(db)

    def score(table: str) -> dict[str, object]:
        return BatchScoreOperator(
            task_id="score", deployment_id=deployment.id, conn_id="crm", table=table, chunk_rows=100
        ).execute({})  # type: ignore[arg-type]

    assert score("customers")["rows"] == 300
    assert len(watch.engines) == 1 and watch.left_open() == []
    with pytest.raises(BatchScoreError, match="monthly_charges"):
        score("partial")
    assert len(watch.engines) == 2 and watch.left_open() == []


def test_an_external_deployment_reports_predictions_made_elsewhere(
    models: RegisteredModels, mlops_home: Path
) -> None:
    from airflow_mlops.registry import register_external_model

    settings = get_settings()
    version = register_external_model(
        name="elsewhere",
        target="churned",
        task="binary",
        features={
            f: ("categorical" if f in ("contract", "payment_method", "internet_service") else "numeric")
            for f in models.features
        },
        classes=[0, 1],
        tracking_uri=settings.mlflow_tracking_uri,
    )
    deployment = Deployment.create_from_registered_model_version(
        f"{version.name}/{version.version}", "external"
    )
    frame, path = _source(mlops_home, 700)
    frame["score"] = 0.25
    frame.to_csv(path, index=False)
    with pytest.raises(BatchScoreError, match="prediction_column"):
        batch_score(deployment.id, source=str(path))
    summary = batch_score(
        deployment.id,
        source=str(path),
        prediction_column="score",
        timestamp_column="event_time",
        chunk_rows=300,
    )
    assert summary["rows"] == 700 and summary["reported"] is True
    logged = read_log_files(list_log_files(settings.prediction_log_dir, deployment.id))
    assert len(logged) == 700 and set(logged["prediction"]) == {0.25}
    assert list(logged["timestamp"]) == sorted(frame["event_time"])
