"""What the console shows beside a deployment, over real HTTP: lineage, ``predictionUsage``, the latest report.

Lineage comes from a registry version tagged as the refit step tags it; usage from
predictions sent through the prediction route with their event times and folded;
the report is a real HTML artifact in the session's MLflow store, recorded as a
monitoring pass records it.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.fold import fold_new_predictions
from airflow_mlops.monitoring.reads import resolve_window
from airflow_mlops.registry.lineage import ModelLineage, model_lineage, model_lineages
from airflow_mlops.store import HealthRow, session_scope

if TYPE_CHECKING:
    from conftest import LiveServer

D = "/api/v2/deployments"
H = datetime(2024, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    name = f"olga-{uuid.uuid4().hex[:8]}"
    with server.client(server.token(name)) as client:
        yield name, client


def _client(server: LiveServer) -> MlflowClient:
    uri = server.models.tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _score_at(
    server: LiveServer, client: httpx.Client, deployment: Deployment, times: list[datetime]
) -> None:
    rows = server.rows_frame(len(times)).assign(ts=[t.isoformat() for t in times])
    response = client.post(
        f"/predApi/v1.0/deployments/{deployment.id}/predictions",
        params={"timestampColumn": "ts"},
        content=rows.to_json(orient="records"),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


def _fold(server: LiveServer, deployment: Deployment) -> None:
    server.app.state.prediction_log.flush()
    fold_new_predictions(
        deployment.id, store_url=server.settings.store_url, log_root=server.settings.prediction_log_dir
    )


# ---- lineage ------------------------------------------------------------------------------------------


def test_lineage_is_the_versions_tags_and_run(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    mlflow = _client(server)
    source = mlflow.get_model_version("churn", "1")
    registered = f"lineage-{uuid.uuid4().hex[:8]}"
    mlflow.create_registered_model(registered)
    tags = {
        **dict(source.tags),
        "dataset": "churn_events",
        "dataset_version": "20260105T0800",
        "sweep_parent_run_id": "a" * 32,
    }
    version = mlflow.create_model_version(registered, source.source, run_id=source.run_id, tags=tags)
    deployment = server.deploy(f"{registered}/{version.version}", owner=name)

    got = client.get(f"{D}/{deployment.id}/").json()["model"]
    assert {k: got[k] for k in ("datasetName", "datasetVersion", "trainingRunId", "sweepParentRunId")} == {
        "datasetName": "churn_events",
        "datasetVersion": "20260105T0800",
        "trainingRunId": source.run_id,
        "sweepParentRunId": "a" * 32,
    }
    assert (got["mlflowModelUrl"], got["mlflowRunUrl"]) == (None, None), "a SQLite store has no UI to link"
    (listed,) = client.get(f"{D}/").json()["data"]
    assert listed["model"] == got


def test_lineage_links_an_http_tracking_server_and_survives_an_unreachable_one(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlops.registry import mlflow_model_url, mlflow_run_url

    assert mlflow_model_url("http://mlflow:5000/", "churn eu", "3") == (
        "http://mlflow:5000/#/models/churn%20eu/versions/3"
    )
    assert mlflow_run_url("https://ml.example/mlflow", "7", "abc") == (
        "https://ml.example/mlflow/#/experiments/7/runs/abc"
    )
    assert mlflow_model_url("sqlite:///x.db", "churn", "3") is None
    assert mlflow_run_url("file:///tmp/mlruns", "7", "abc") is None
    # Nothing listens on port 9 of loopback: the list must still answer, with an empty lineage.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    gone = model_lineage("churn/1", tracking_uri="http://127.0.0.1:9", registry_uri="http://127.0.0.1:9")
    assert gone == ModelLineage()

    # A registry that takes the connection and never answers: the caller waits the timeout, not MLflow's.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        began = time.monotonic()
        hung = model_lineages(["churn/1", "churn/2"], tracking_uri=uri, registry_uri=uri, timeout_s=0.5)
        assert time.monotonic() - began < 3
    assert hung == {"churn/1": ModelLineage(), "churn/2": ModelLineage()}


# ---- predictionUsage ----------------------------------------------------------------------------------


def test_prediction_usage_finds_the_newest_prediction_and_counts_the_last_days(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    deployment = server.deploy(owner=name)
    _score_at(server, client, deployment, [H + timedelta(minutes=5)] * 3)
    _score_at(server, client, deployment, [H + timedelta(hours=1, minutes=37)])
    _fold(server, deployment)

    usage = client.get(f"{D}/{deployment.id}/").json()["predictionUsage"]
    assert usage == {"lastTimestamp": (H + timedelta(hours=1, minutes=37)).isoformat(), "dailyRates": [0] * 7}

    # Recent traffic: each prediction counts in its day of the 7 days before the next top of the hour.
    start, _end = resolve_window(None, None)
    now = datetime.now(UTC)
    recent = [now - timedelta(hours=1)] * 2 + [start + timedelta(minutes=30)] * 5
    _score_at(server, client, deployment, recent[:2])
    _score_at(server, client, deployment, recent[2:])
    _fold(server, deployment)
    want = [0] * 7
    for moment in recent:
        want[int((moment - start) // timedelta(days=1))] += 1
    (listed,) = client.get(f"{D}/").json()["data"]
    assert listed["predictionUsage"]["dailyRates"] == want
    newest = datetime.fromisoformat(listed["predictionUsage"]["lastTimestamp"])
    assert newest == (now - timedelta(hours=1)).replace(second=0, microsecond=0)


# ---- the latest report --------------------------------------------------------------------------------


def _report(server: LiveServer, deployment: Deployment, html: str, tmp_path: Path, when: datetime) -> str:
    """Log ``html`` as a monitoring pass's report and record it as the pass records it."""
    mlflow = _client(server)
    experiment = mlflow.get_experiment_by_name("tests")
    assert experiment is not None
    run = mlflow.create_run(experiment.experiment_id)
    path = tmp_path / f"drift_report_{uuid.uuid4().hex[:6]}.html"
    path.write_text(html)
    mlflow.log_artifact(run.info.run_id, str(path), artifact_path="monitoring")
    uri = f"{run.info.artifact_uri}/monitoring/{path.name}"
    with session_scope(server.settings.store_url) as session:
        for kind in ("service", "drift", "accuracy"):
            session.add(
                HealthRow(
                    deployment_id=deployment.id,
                    kind=kind,
                    status="PASSING",
                    message="ok",
                    window_start=when - timedelta(hours=1),
                    window_end=when,
                    details={"report_uri": uri},
                    evaluated_at=when,
                )
            )
    return uri


def test_the_latest_report_is_listed_and_served_sandboxed(
    server: LiveServer, owner: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    name, client = owner
    reader = f"rita-{uuid.uuid4().hex[:6]}"
    consumer = f"carl-{uuid.uuid4().hex[:6]}"
    deployment = server.deploy(owner=name, shares={reader: "USER", consumer: "CONSUMER"})
    other = server.deploy(owner=name)

    assert client.get(f"{D}/{deployment.id}/").json()["latestReport"] is None
    missing = client.get(f"{D}/{deployment.id}/reports/latest/")
    assert missing.status_code == 404 and "no report yet" in missing.json()["detail"]

    _report(server, deployment, "<html>old</html>", tmp_path, H)
    uri = _report(
        server, deployment, "<html><body>the newest drift</body></html>", tmp_path, H + timedelta(hours=1)
    )
    with session_scope(server.settings.store_url) as session:  # a later pass with nothing to compare
        session.add(
            HealthRow(
                deployment_id=deployment.id,
                kind="drift",
                status="PASSING",
                message="ok",
                window_start=H + timedelta(hours=1),
                window_end=H + timedelta(hours=2),
                details={"report_uri": None},
                evaluated_at=H + timedelta(hours=2),
            )
        )

    got = client.get(f"{D}/{deployment.id}/").json()["latestReport"]
    assert got == {"uri": uri, "createdAt": (H + timedelta(hours=1)).isoformat()}
    listed = {d["id"]: d["latestReport"] for d in client.get(f"{D}/").json()["data"]}
    assert listed == {deployment.id: got, other.id: None}

    with server.client(server.token(reader)) as as_reader:
        served = as_reader.get(f"{D}/{deployment.id}/reports/latest/")
    assert served.status_code == 200, served.text
    assert served.text == "<html><body>the newest drift</body></html>"
    assert served.headers["content-type"].startswith("text/html")
    assert served.headers["content-security-policy"].startswith("sandbox")
    with server.client(server.token(consumer)) as as_consumer:
        assert as_consumer.get(f"{D}/{deployment.id}/reports/latest/").status_code == 403

    # The artifact deleted from the store: a 404 that says so, not a 500.
    Path(uri.removeprefix("file://")).unlink()
    gone = client.get(f"{D}/{deployment.id}/reports/latest/")
    assert gone.status_code == 404 and "cannot be read" in gone.json()["detail"]


def test_a_page_of_deployments_costs_the_same_queries_as_one(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    """Usage and reports are read for the whole page at once (lineage is cached per version).

    Counted: the statements on the tables the overview reads (service buckets, health history).
    """
    from sqlalchemy import event

    from airflow_mlops.store import get_engine

    name, client = owner
    for _ in range(5):
        server.deploy(owner=name)
    client.get(f"{D}/")  # lineage of churn/1 cached
    engine = get_engine(server.settings.store_url)
    statements: list[str] = []

    def count(*args: object) -> None:
        text = str(args[2])
        if "service_buckets" in text or "health_history" in text:
            statements.append(text)

    event.listen(engine, "before_cursor_execute", count)
    try:
        one = client.get(f"{D}/", params={"limit": 1})
        n_one = len(statements)
        statements.clear()
        five = client.get(f"{D}/", params={"limit": 5})
        n_five = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (len(one.json()["data"]), len(five.json()["data"])) == (1, 5)
    assert n_five == n_one, "the overview's queries must not grow with the page"
    assert pd.Series([d["predictionUsage"]["dailyRates"] for d in five.json()["data"]]).map(len).eq(7).all()
