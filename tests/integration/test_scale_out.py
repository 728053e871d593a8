"""The scale-out shape, as ``docker-compose.yaml`` describes it, run as processes on loopback.

:class:`helpers.compose.LocalCompose` reads the compose file and starts each
service's command with that service's environment: PostgreSQL (the machine's
server; Airflow's metadata DB, MLflow's backend store, the MLOps store and the
Optuna studies, each a database this test creates and drops), Redis as the
Celery broker, ``mlflow server``, Airflow with ``CeleryExecutor`` (API server,
scheduler, DAG processor, triggerer, two Celery workers with their own
hostnames) and two prediction servers. The test talks to them only over HTTP
(Airflow's REST API, the MLOps API, MLflow's server) and reads the Optuna study
and the prediction log the way another host would.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest
from helpers.compose import LocalCompose
from mlflow import MlflowClient
from optuna.trial import TrialState

from airflow_mlops.datasets.synthetic import make_churn

# Bringing the stack up and a whole sweep with a lost worker take longer than the suite-wide 900 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[2]
WORKERS = ("airflow-worker-1", "airflow-worker-2")
PREDICTIONS = ("predictions-1", "predictions-2")
N_TRIALS = 10


def _require(port: int, what: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    except OSError as exc:
        pytest.skip(f"{what} is not running on 127.0.0.1:{port} ({exc}); the scale-out test needs it")


@dataclass
class Stack:
    compose: LocalCompose
    airflow: httpx.Client
    token: str
    tracking_uri: str
    optuna_url: str
    shared: Path
    facts: dict[str, Any] = field(default_factory=dict)

    def predictions(self, service: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.compose.url(service, 8008),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )


def _login(compose: LocalCompose) -> httpx.Client:
    home = Path(compose.services["airflow-apiserver"].environment["AIRFLOW_HOME"])
    users = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
    url = compose.url("airflow-apiserver", 8080)
    token = httpx.post(
        f"{url}/auth/token", json={"username": "admin", "password": users["admin"]}, timeout=30
    )
    assert token.status_code in (200, 201), token.text
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=60
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _require(5432, "PostgreSQL")
    _require(6379, "Redis")
    compose = LocalCompose(REPO / "docker-compose.yaml", tmp_path_factory.mktemp("compose"))
    compose.create_databases()
    try:
        compose.up()
        env = compose.services["predictions-1"].environment
        from airflow_mlops.security import create_token

        _info, token = create_token(env["MLOPS_STORE_URL"], user="scale-out", is_admin=True)
        with _login(compose) as airflow:
            yield Stack(
                compose,
                airflow,
                token,
                env["MLFLOW_TRACKING_URI"],
                env["MLOPS_OPTUNA_STORAGE"],
                Path(env["MLOPS_HOME"]).parent,
            )
    finally:
        compose.down()


def _wait_for_run(client: httpx.Client, dag_id: str, run_id: str, timeout_s: float = 1200) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        state = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
        if state in ("success", "failed"):
            return str(state)
        assert time.monotonic() < deadline, f"{dag_id} run {run_id} still {state} after {timeout_s:.0f} s"
        time.sleep(3)


def _task_instances(client: httpx.Client, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
    rows = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100}).json()
    return sorted(
        (t for t in rows["task_instances"] if t["task_id"] == task_id), key=lambda t: t["map_index"]
    )


def _study(stack: Stack) -> optuna.Study:
    (name,) = optuna.get_all_study_names(storage=stack.optuna_url)
    return optuna.load_study(study_name=name, storage=stack.optuna_url)


@pytest.fixture(scope="module")
def trained(stack: Stack) -> dict[str, Any]:
    """``mlops_train`` with two sweep workers; one Celery worker is killed in the middle of a trial."""
    from airflow_mlops.demo import EXCLUDE, TARGET

    data = stack.shared / "mlops" / "data"  # under MLOPS_HOME: an allowed root for local sources
    data.mkdir(parents=True)
    # Enough rows that a trial takes seconds: the worker is killed in the middle of one, not between two.
    make_churn(20000, seed=1).to_csv(data / "train.csv", index=False)
    conf = {
        "source": str(data / "train.csv"),
        "dataset": "scale",
        "target": TARGET,
        "exclude_columns": EXCLUDE,
        "registered_model_name": "scale",
        "label": "Scale out",
        "experiment_name": "scale-out",
        "n_trials": N_TRIALS,
        "timeout_s": 900,
        "workers": 2,
    }
    client = stack.airflow
    run = client.post("/api/v2/dags/mlops_train/dagRuns", json={"logical_date": None, "conf": conf})
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]

    deadline = time.monotonic() + 900
    while True:  # both sweep workers running, and one of them in the middle of a trial
        workers = _task_instances(client, "mlops_train", run_id, "sweep_worker")
        running = {
            t["map_index"]: t["hostname"] for t in workers if t["state"] == "running" and t["hostname"]
        }
        trials = _study(stack).get_trials(deepcopy=False) if len(running) == 2 else []
        busy = [
            t
            for t in trials
            if t.state == TrialState.RUNNING
            and "run_id" in t.user_attrs
            and t.user_attrs["worker_index"] in running
        ]
        if busy and sum(t.state == TrialState.COMPLETE for t in trials) >= 2:
            break
        state = client.get(f"/api/v2/dags/mlops_train/dagRuns/{run_id}").json()["state"]
        assert state in ("queued", "running"), (
            f"mlops_train ended ({state}) before a worker was killed: {workers}"
        )
        assert time.monotonic() < deadline, f"no moment with two busy sweep workers: {workers}"
        time.sleep(0.5)
    victim_index = busy[0].user_attrs["worker_index"]
    victim = running[victim_index]
    stack.compose.kill(victim)  # SIGKILL, the whole process tree: the host is gone
    # What the kill interrupted, read after it: the victim's trial left RUNNING (it may have
    # finished one and started the next between the look above and the kill).
    after = _study(stack).get_trials(deepcopy=False)
    interrupted = [
        t for t in after if t.state == TrialState.RUNNING and t.user_attrs.get("worker_index") == victim_index
    ]
    assert len(interrupted) == 1, f"the kill left {len(interrupted)} running trials of worker {victim_index}"
    done_before = {t.number: t.user_attrs["run_id"] for t in after if t.state == TrialState.COMPLETE}
    stack.compose.restart(victim)  # restart: unless-stopped

    state = _wait_for_run(client, "mlops_train", run_id)
    tasks = client.get(f"/api/v2/dags/mlops_train/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    assert state == "success", {(t["task_id"], t["map_index"]): t["state"] for t in tasks}
    (deployment,) = stack.predictions("predictions-1").get("/api/v2/deployments/").json()["data"]
    return {
        "run_id": run_id,
        "hostnames": running,
        "victim_index": victim_index,
        "killed_trial": interrupted[0].number,
        "done_before": done_before,
        "deployment": deployment,
    }


def test_the_sweep_ran_on_both_celery_workers_and_the_killed_one_was_retried(
    stack: Stack, trained: dict[str, Any]
) -> None:
    assert sorted(trained["hostnames"].values()) == sorted(WORKERS), trained["hostnames"]
    tries = stack.airflow.get(
        f"/api/v2/dags/mlops_train/dagRuns/{trained['run_id']}/taskInstances/sweep_worker/"
        f"{trained['victim_index']}/tries"
    ).json()["task_instances"]
    states = [t["state"] for t in sorted(tries, key=lambda t: t["try_number"])]
    assert len(states) >= 2 and states[-1] == "success" and states[0] != "success", tries


def test_the_study_resumed_in_postgresql_and_no_finished_trial_was_lost(
    stack: Stack, trained: dict[str, Any]
) -> None:
    study = _study(stack)
    trials = study.get_trials(deepcopy=False)
    kept = {t.number: t.user_attrs.get("run_id") for t in trials if t.number in trained["done_before"]}
    assert kept == trained["done_before"]
    assert all(trials[n].state == TrialState.COMPLETE for n in trained["done_before"])
    killed = trials[trained["killed_trial"]]
    assert killed.state == TrialState.FAIL and killed.user_attrs.get("interrupted"), killed
    retried = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
    assert len(retried) == 1 and retried[0].params == killed.params
    # Both workers ran trials of the one study (the killed one may not have finished any).
    assert {t.user_attrs.get("worker_index") for t in trials if "run_id" in t.user_attrs} == {0, 1}


def test_trials_are_runs_on_the_tracking_server_and_the_winner_is_registered_and_deployed(
    stack: Stack, trained: dict[str, Any]
) -> None:
    client = MlflowClient(tracking_uri=stack.tracking_uri)
    experiment = client.get_experiment_by_name("scale-out")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`airflow_mlops.kind` = 'automl_trial'"
    )
    by_id = {run.info.run_id: run for run in runs}
    study_runs = {
        t.user_attrs["run_id"] for t in _study(stack).get_trials(deepcopy=False) if "run_id" in t.user_attrs
    }
    assert study_runs <= set(by_id), "every trial is a run on the MLflow server"
    killed_run = _study(stack).trials[trained["killed_trial"]].user_attrs["run_id"]
    assert by_id[killed_run].info.status == "KILLED"
    versions = client.search_model_versions("name = 'scale'")
    assert [v.version for v in versions] == ["1"]
    deployment = trained["deployment"]
    assert deployment["label"] == "Scale out" and deployment["model"]["id"] == "scale/1"


def _score(stack: Stack, service: str, deployment_id: str, rows: Any) -> httpx.Response:
    with stack.predictions(service) as client:
        return client.post(
            f"/predApi/v1.0/deployments/{deployment_id}/predictions",
            content=rows.to_json(orient="records", date_format="iso"),
            headers={"Content-Type": "application/json"},
        )


def test_both_servers_log_predictions_and_the_monitor_folds_them_all(
    stack: Stack, trained: dict[str, Any]
) -> None:
    from airflow_mlops.demo import TARGET
    from airflow_mlops.prediction_log import list_log_files, read_log_files

    deployment_id = trained["deployment"]["id"]
    traffic = make_churn(500, seed=7).drop(columns=[TARGET])
    sent = {"predictions-1": 300, "predictions-2": 200}
    start = 0
    for service, count in sent.items():
        for offset in range(start, start + count, 100):
            answer = _score(stack, service, deployment_id, traffic.iloc[offset : offset + 100])
            assert answer.status_code == 200, answer.text
        start += count
    time.sleep(2)  # each server's log writer flushes at least every second
    log = read_log_files(list_log_files(stack.shared / "predictions", deployment_id))
    assert len(log) == 500, "every row either server scored is in the shared log"

    window_end = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    monitor = stack.airflow.post(
        "/api/v2/dags/mlops_monitor/dagRuns",
        json={"logical_date": None, "conf": {"window_end": window_end, "window_hours": 2, "report": False}},
    )
    assert monitor.status_code == 200, monitor.text
    run_id = monitor.json()["dag_run_id"]
    assert _wait_for_run(stack.airflow, "mlops_monitor", run_id) == "success"
    entry = stack.airflow.get(
        f"/api/v2/dags/mlops_monitor/dagRuns/{run_id}/taskInstances/monitor/xcomEntries/return_value",
        params={"map_index": 0},
    )
    assert entry.status_code == 200, entry.text
    value = entry.json()["value"]
    summary = json.loads(value) if isinstance(value, str) else value
    assert summary["folded_rows"] == 500, summary
    for service in PREDICTIONS:
        with stack.predictions(service) as client:
            stats = client.get(f"/api/v2/deployments/{deployment_id}/serviceStats/").json()
        assert stats["metrics"]["totalPredictions"] == 500, (service, stats)


def test_a_replacement_is_served_by_both_servers_within_two_seconds_with_no_failed_request(
    stack: Stack, trained: dict[str, Any]
) -> None:
    from airflow_mlops.demo import TARGET

    deployment_id = trained["deployment"]["id"]
    client = MlflowClient(tracking_uri=stack.tracking_uri)
    first = client.get_model_version("scale", "1")
    second = client.create_model_version(  # the same logged model as a new version: a replacement to roll out
        "scale", first.source, run_id=first.run_id, tags=first.tags, model_id=first.source.rsplit("/", 1)[1]
    )
    rows = make_churn(5, seed=3).drop(columns=[TARGET])
    answers: dict[str, list[tuple[float, int, str]]] = {service: [] for service in PREDICTIONS}
    stop = threading.Event()

    def hammer(service: str) -> None:
        with stack.predictions(service) as http:
            while not stop.is_set():
                answer = http.post(
                    f"/predApi/v1.0/deployments/{deployment_id}/predictions",
                    content=rows.to_json(orient="records", date_format="iso"),
                    headers={"Content-Type": "application/json"},
                )
                answers[service].append(
                    (time.monotonic(), answer.status_code, answer.headers.get("X-MLOps-Model-Id", ""))
                )

    threads = [threading.Thread(target=hammer, args=(service,)) for service in PREDICTIONS for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        with stack.predictions("predictions-1") as http:
            replaced = http.patch(
                f"/api/v2/deployments/{deployment_id}/model/",
                json={"modelId": f"scale/{second.version}", "reason": "OTHER"},
            )
        replaced_at = time.monotonic()
        assert replaced.status_code == 202, replaced.text
        deadline = replaced_at + 30
        while time.monotonic() < deadline and not all(
            any(model == f"scale/{second.version}" for _, _, model in answers[s]) for s in PREDICTIONS
        ):
            time.sleep(0.1)
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    for service, seen in answers.items():
        assert seen and all(status == 200 for _, status, _ in seen), (service, {s for _, s, _ in seen})
        switched = min(t for t, _, model in seen if model == f"scale/{second.version}")
        assert switched - replaced_at <= 2.0, (
            f"{service} served the new model {switched - replaced_at:.2f} s later"
        )
        assert all(model == f"scale/{second.version}" for t, _, model in seen if t > switched), (
            f"{service} went back to the old model"
        )
