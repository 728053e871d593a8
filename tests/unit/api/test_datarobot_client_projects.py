"""DataRobot's getting-started script, through the official ``datarobot`` client, against our server.

Every call goes through the real client (its requests, its trafaret checks,
its async polling) to the real app under uvicorn; the sweep really runs, in a
worker process, kept to a few seconds by ``MLOPS_PROJECT_SWEEP_TRIALS`` and
``MLOPS_PROJECT_SWEEP_TIMEOUT_S``. Values are checked against our own Python
API: the leaderboard MLflow keeps for the sweep (``automl.load_leaderboard``)
and the project's row in the store.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datarobot as dr
import pandas as pd
import pytest
from datarobot.errors import ClientError
from monitoring_traffic import fold

from airflow_mlops.automl import load_leaderboard
from airflow_mlops.datasets import load_snapshot, make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.services.projects import get_project

if TYPE_CHECKING:
    from conftest import LiveServer

REPO = Path(__file__).resolve().parents[3]
#: The hand-written contract of the demo's ``churn`` dataset applies to projects named ``churn``.
CONTRACTS = REPO / "include" / "contracts"


@pytest.fixture(scope="module", autouse=True)
def tiny_sweeps(server: LiveServer) -> Iterator[None]:
    """Sweeps of three trials and at most 30 seconds; the repository's contracts in force."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MLOPS_PROJECT_SWEEP_TRIALS", "3")
    mp.setenv("MLOPS_PROJECT_SWEEP_TIMEOUT_S", "30")
    mp.setenv("MLOPS_CONTRACTS_DIR", str(CONTRACTS))
    yield
    mp.undo()


OWNER = "project-owner"


def connect(server: LiveServer, user: str = OWNER) -> str:
    """Make ``user`` (not an admin) the client's global client, as ``dr.Client`` does."""
    dr.Client(token=server.token(user), endpoint=f"{server.url}/api/v2")
    return user


@pytest.fixture
def user(server: LiveServer) -> str:
    return connect(server)


def churn_csv(tmp_path: Path, n_rows: int = 400, name: str = "churn.csv", **changes: Any) -> Path:
    frame = make_churn(n_rows, seed=11)
    for column, value in changes.items():
        frame[column] = value
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def quick(server: LiveServer, tiny_sweeps: None, tmp_path_factory: pytest.TempPathFactory) -> dr.Project:
    """One project through QUICK Autopilot, shared by the tests that read its leaderboard."""
    connect(server)
    path = churn_csv(tmp_path_factory.mktemp("quick"))
    project = dr.Project.create(sourcedata=str(path), project_name="churn")
    project.set_target(target="churned", mode=dr.AUTOPILOT_MODE.QUICK)
    project.wait_for_autopilot(check_interval=1, verbosity=0)
    return project


def test_create_reads_the_upload_and_answers_the_project(
    server: LiveServer, user: str, tmp_path: Path
) -> None:
    path = churn_csv(tmp_path)
    project = dr.Project.create(sourcedata=str(path), project_name="churn")

    assert len(project.id) == 24
    assert project.project_name == "churn"
    assert project.file_name == "churn.csv"
    assert project.stage == "aim"  # no target yet
    assert project.target is None
    stored = get_project(project.id, settings=server.settings)
    assert stored.owner == user
    assert stored.status == "created"
    assert stored.columns == list(pd.read_csv(path, nrows=1).columns)
    assert Path(stored.source).read_bytes() == path.read_bytes()
    assert project.get_status() == {
        "autopilot_done": False,
        "stage": "aim",
        "stage_description": "Ready to set target",
        "autopilot_status": "created",
    }


def test_a_dataframe_upload_and_another_callers_view(server: LiveServer, user: str) -> None:
    frame = make_churn(200, seed=5).drop(columns=["customer_id", "event_time"])
    project = dr.Project.create(sourcedata=frame, project_name="Untitled Project")
    assert project.file_name == "data.csv"  # the client's name for a DataFrame
    # Not a dataset name: the project gets a dataset of its own.
    assert get_project(project.id, settings=server.settings).dataset == f"project-{project.id}"

    dr.Client(token=server.token("someone-else"), endpoint=f"{server.url}/api/v2")
    with pytest.raises(ClientError) as caught:
        dr.Project.get(project.id)
    assert caught.value.status_code == 404
    assert caught.value.json["message"] == f"no project with id {project.id!r}"
    dr.Client(token=server.admin_token, endpoint=f"{server.url}/api/v2")
    assert dr.Project.get(project.id).project_name == "Untitled Project"  # admins see every project


def test_quick_autopilot_builds_our_leaderboard(server: LiveServer, user: str, quick: dr.Project) -> None:
    project = dr.Project.get(quick.id)

    stored = get_project(project.id, settings=server.settings)
    assert stored.status == "done", stored.error
    assert stored.mode == "quick" and stored.sweep["n_trials"] == 3
    assert project.get_status()["autopilot_done"] is True
    project.refresh()
    assert project.target == "churned"
    assert project.target_type == "Binary"
    assert project.metric == "AUC"  # our default for a binary target
    assert project.mode == 3  # DataRobot's number for QUICK
    assert project.stage == "modeling"

    # The hand-written churn contract was in force: its key and time columns are not features.
    snapshot = load_snapshot(server.settings.snapshots_dir, "churn", stored.snapshot_version)
    assert snapshot.contract().origin == "hand-written"
    assert stored.sweep["exclude"] == ["customer_id", "event_time"]

    models = project.get_models()
    board = load_leaderboard(stored.parent_run_id, server.settings.mlflow_tracking_uri)
    assert [m.id for m in models] == list(board["run_id"])
    assert len(models) >= 1
    for model, (_, row) in zip(models, board.iterrows(), strict=True):
        assert len(model.id) == 32
        assert model.project_id == project.id
        assert model.model_type.endswith(
            f" ({row['family']})"
        )  # e.g. "Random Forest Classifier (random_forest)"
        # The sweep's ensemble is DataRobot's blender.
        assert model.model_category == ("blend" if row["family"] == "ensemble" else "model")
        assert model.model_number == row["trial_number"] + 1
        assert model.sample_pct == pytest.approx(row["sample_pct"])
        scores = model.metrics["AUC"]
        assert scores["validation"] == pytest.approx(row["score"])
        assert scores["crossValidation"] == pytest.approx(row["score"])
        assert scores["holdout"] == pytest.approx(row["holdout_score"])
    aucs = [m.metrics["AUC"]["validation"] for m in models]
    assert aucs == sorted(aucs, reverse=True)  # leaderboard order: best first

    one = dr.Model.get(project.id, models[0].id)
    assert one.id == models[0].id and one.metrics == models[0].metrics


def test_list_a_url_source_and_delete(server: LiveServer, user: str, tmp_path: Path) -> None:
    """``Project.create`` with a URL (JSON ``url``), ``Project.list`` (the caller's only), ``delete``."""
    incoming = server.settings.home / "incoming"
    incoming.mkdir(exist_ok=True)
    path = churn_csv(incoming, 100, name="from-url.csv")
    other = dr.Project.create(sourcedata=str(path), project_name="another one")
    project = dr.Project.create(sourcedata=path.as_uri(), project_name="from a url")
    stored = get_project(project.id, settings=server.settings)
    assert stored.source == path.as_uri()
    assert project.file_name == "from-url.csv"

    mine = {p.id for p in dr.Project.list()}
    assert project.id in mine
    assert all(get_project(pid, settings=server.settings).owner == user for pid in mine)
    assert {project.id, other.id} <= mine
    assert [p.id for p in dr.Project.list(search_params={"project_name": "from a url"})] == [project.id]

    outside = tmp_path / "outside.csv"  # not under an allowed root: ingestion's own refusal
    outside.write_text("a,b\n1,2\n")
    with pytest.raises(ClientError) as caught:
        dr.Project.create(sourcedata=outside.as_uri(), project_name="outside")
    assert caught.value.status_code == 422
    assert "outside the allowed roots" in caught.value.json["message"]

    project.rename("renamed by the client")
    project.set_worker_count(-1)  # accepted: one worker per sweep here
    project.unlock_holdout()
    again = dr.Project.get(project.id)
    assert again.project_name == "renamed by the client"
    assert again.holdout_unlocked is True
    assert get_project(project.id, settings=server.settings).name == "renamed by the client"

    project.delete()
    with pytest.raises(ClientError) as caught:
        dr.Project.get(project.id)
    assert caught.value.status_code == 404
    assert not (server.settings.home / "projects" / project.id).exists()


def test_a_leaderboard_model_deploys_by_its_id(server: LiveServer, user: str, quick: dr.Project) -> None:
    """A model id from get_models is the trial run fromLearningModel refits (with today's required name)."""
    from mlflow import MlflowClient

    from airflow_mlops.deployments import Deployment

    models = quick.get_models()
    chosen = models[-1]  # any ranked model, not only the best
    response = dr.client.get_client().post(
        "deployments/fromLearningModel/",
        data={"modelId": chosen.id, "label": "from the leaderboard", "registeredModelName": "churn-project"},
    )
    assert response.status_code == 201, response.text
    deployment = dr.Deployment.get(response.json()["id"])
    assert deployment.label == "from the leaderboard"

    ours = Deployment.get(deployment.id, store_url=server.settings.store_url)
    version = MlflowClient(tracking_uri=server.settings.mlflow_tracking_uri).get_model_version(
        ours.model["registered_model_name"], ours.model["version"]
    )
    assert version.tags["learning_model_run_id"] == chosen.id
    stored = get_project(quick.id, settings=server.settings)
    assert version.tags["sweep_parent_run_id"] == stored.parent_run_id


def test_unknown_target_is_a_422_naming_it_and_sets_nothing(
    server: LiveServer, user: str, tmp_path: Path
) -> None:
    project = dr.Project.create(sourcedata=str(churn_csv(tmp_path)), project_name="churn-typo")
    with pytest.raises(ClientError) as caught:
        project.set_target(target="churn", mode=dr.AUTOPILOT_MODE.QUICK)
    assert caught.value.status_code == 422
    message = caught.value.json["message"]
    assert "target column 'churn' not found" in message
    assert "churned" in message  # the columns found are listed
    stored = get_project(project.id, settings=server.settings)
    assert (stored.status, stored.target, stored.snapshot_version) == ("created", None, None)
    assert not (server.settings.snapshots_dir / "churn-typo").exists() or not any(
        p for p in (server.settings.snapshots_dir / "churn-typo").iterdir() if not p.name.startswith(".")
    )


def test_data_failing_the_contract_is_a_422_with_ingestions_message(
    server: LiveServer, user: str, tmp_path: Path
) -> None:
    # The churn contract allows month-to-month, one-year and two-year contracts only.
    path = churn_csv(tmp_path, contract="weekly")
    project = dr.Project.create(sourcedata=str(path), project_name="churn")
    with pytest.raises(ClientError) as caught:
        project.set_target(target="churned")
    assert caught.value.status_code == 422
    message = caught.value.json["message"]
    assert "contract" in message and "'weekly'" in message, message
    assert get_project(project.id, settings=server.settings).status == "created"


def test_an_upload_ingestion_cannot_read_is_refused_and_not_stored(
    server: LiveServer, user: str, tmp_path: Path
) -> None:
    before = (
        set((server.settings.home / "projects").iterdir())
        if (server.settings.home / "projects").exists()
        else set()
    )
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ClientError) as caught:
        dr.Project.create(sourcedata=str(empty), project_name="nothing")
    assert caught.value.status_code == 422
    assert "empty" in caught.value.json["message"]

    # UTF-8 with one stray Latin-1 byte: no single encoding explains it (a clean Latin-1 file is detected).
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,churned\nJosé,1\nRené,0\n".encode() + b"Jos\xe9,1\n")
    with pytest.raises(ClientError) as caught:
        dr.Project.create(sourcedata=str(latin), project_name="latin")
    assert caught.value.status_code == 422
    assert "UTF-8" in caught.value.json["message"]
    message = caught.value.json["message"]
    assert message.startswith("latin.csv"), message  # named as uploaded, not by our path
    assert str(server.settings.home) not in message
    after = set((server.settings.home / "projects").iterdir())
    assert after == before  # nothing half-stored


def test_concepts_we_lack_are_named(server: LiveServer, user: str, tmp_path: Path) -> None:
    project = dr.Project.create(sourcedata=str(churn_csv(tmp_path, 100)), project_name="churn-concepts")
    with pytest.raises(ClientError) as caught:
        project.get_featurelists()
    assert caught.value.status_code == 404
    assert "feature lists" in caught.value.json["message"]
    with pytest.raises(ClientError) as caught:
        project.get_blueprints()
    assert caught.value.status_code == 404
    assert "blueprints" in caught.value.json["message"]
    with pytest.raises(ClientError) as caught:
        project.set_target(target="churned", mode=dr.AUTOPILOT_MODE.MANUAL)
    assert caught.value.status_code == 422
    assert "manual" in caught.value.json["message"]
    with pytest.raises(ClientError) as caught:
        project.set_target(target="churned", featurelist_id="0" * 24)
    assert caught.value.status_code == 422
    assert "featurelistId (feature lists)" in caught.value.json["message"]
    with pytest.raises(ClientError) as caught:
        project.set_target(target="churned", metric="Gini Norm")
    assert caught.value.status_code == 422
    assert "metric" in caught.value.json["message"] and "AUC" in caught.value.json["message"]
    assert get_project(project.id, settings=server.settings).status == "created"


def test_a_failed_sweep_is_reported(server: LiveServer, user: str, tmp_path: Path) -> None:
    """A bad budget is refused up front; a worker that dies is seen: failed with the error, and get_models says so."""
    frame = make_churn(60, seed=2).drop(columns=["customer_id", "event_time"])
    project = dr.Project.create(sourcedata=frame, project_name="killed-worker")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLOPS_PROJECT_SWEEP_TRIALS", "not-a-number")
    try:
        with pytest.raises(ClientError) as caught:
            project.set_target(target="churned")
    finally:
        mp.undo()
    assert caught.value.status_code == 422
    assert "MLOPS_PROJECT_SWEEP_TRIALS" in caught.value.json["message"]

    # A worker that is started but cannot finish: kill its process, the server notices its exit.
    project.set_target(target="churned", mode=dr.AUTOPILOT_MODE.FULL_AUTO)
    stored = get_project(project.id, settings=server.settings)
    assert stored.worker and stored.worker.startswith("pid ")
    pid = int(stored.worker.split()[1])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while get_project(project.id, settings=server.settings).status not in ("failed", "done"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stored = get_project(project.id, settings=server.settings)
    assert stored.status == "failed"
    assert "exited with code -9" in (stored.error or "")
    project.wait_for_autopilot(check_interval=1, verbosity=0)  # done: it will not finish on its own
    with pytest.raises(ClientError) as caught:
        project.get_models()
    assert caught.value.status_code == 422
    assert "Autopilot failed" in caught.value.json["message"]


def test_a_worker_gone_while_the_server_was_down_fails_its_project(
    server: LiveServer, user: str, tmp_path: Path
) -> None:
    """No watcher saw it die (say the server restarted): reading the project notices, and says so."""
    import subprocess

    from airflow_mlops.services.projects import update_project

    project = dr.Project.create(sourcedata=str(churn_csv(tmp_path, 100)), project_name="orphaned")
    dead_pid = subprocess.Popen(["true"])  # a process that has exited and been reaped: its pid is free
    dead_pid.wait()
    update_project(
        project.id, settings=server.settings, status="running", runner="local", worker=f"pid {dead_pid.pid}"
    )
    status = project.get_status()
    assert status["autopilot_done"] is True
    assert status["autopilot_status"] == "failed"
    assert f"pid {dead_pid.pid}" in status["error"] and "is gone" in status["error"]
    # A worker still alive is left alone.
    alive = subprocess.Popen(["sleep", "30"])
    try:
        other = dr.Project.create(sourcedata=str(churn_csv(tmp_path, 100)), project_name="still-running")
        update_project(
            other.id, settings=server.settings, status="running", runner="local", worker=f"pid {alive.pid}"
        )
        assert other.get_status()["autopilot_done"] is False
    finally:
        alive.kill()
        alive.wait()


def test_getting_started_end_to_end(server: LiveServer, user: str, tmp_path: Path) -> None:
    """DataRobot's getting-started script, line for line, then a prediction and the service stats.

    The monitoring pass (``fold``) stands in for ``mlops_monitor`` between predicting and reading.
    """
    from datarobot_predict.deployment import clear_context, predict

    data = make_churn(400, seed=11)
    project = dr.Project.create(sourcedata=data, project_name="churn")
    project.set_target(target="churned", mode=dr.AUTOPILOT_MODE.QUICK)
    project.wait_for_autopilot()
    models = project.get_models()
    assert models, "the sweep ranked no model"

    deployment = dr.Deployment.create_from_learning_model(models[0].id, label="churn")
    assert deployment.label == "churn"
    stored = get_project(project.id, settings=server.settings)
    assert deployment.model["target_name"] == "churned"
    assert deployment.model["sweep_parent_run_id"] == stored.parent_run_id  # the project's sweep
    assert deployment.model["dataset_name"] == "churn"
    assert deployment.model["dataset_version"] == stored.snapshot_version

    rows = make_churn(20, seed=99).drop(columns=["churned"])
    clear_context()  # datarobot-predict keeps the first client it saw (URL and token) per context
    result = predict(deployment, rows)
    frame = result.dataframe
    assert len(frame) == 20
    ours = Deployment.get(deployment.id, store_url=server.settings.store_url)
    # DataRobot's columns: each class's probability, the label, the threshold and positive class
    probabilities = frame[["churned_0_PREDICTION", "churned_1_PREDICTION"]]
    assert (probabilities.sum(axis=1) - 1).abs().max() < 1e-6
    assert set(frame["churned_PREDICTION"]) <= {0, 1}
    assert (frame["POSITIVE_CLASS"] == 1).all()

    # Monitor: the monitoring pass folds the log; the client reads what our Python API reads.
    fold(server, ours)
    stats = deployment.get_service_stats()
    assert stats.metrics["totalPredictions"] == 20
    # (the client refuses a null stat: unknown ones are left out and read as None)
    assert stats.metrics == {k: v for k, v in ours.get_service_stats().metrics.items() if v is not None}
    drift = deployment.get_target_drift()
    assert drift.sample_size == 20 and drift.drift_score == ours.get_target_drift().drift_score
