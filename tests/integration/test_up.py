"""``airflow-mlops up`` as a new user meets it: quiet, loopback, no import error, a form whose defaults run.

Real Airflow components (API server, scheduler, DAG processor, triggerer under
LocalExecutor) on a fresh ``MLOPS_HOME`` where ``make demo``'s data exists; the
test talks to them only over Airflow's REST API.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from helpers.live_server import free_port

from airflow_mlops.datasets.synthetic import make_churn

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).with_name("airflow-mlops"))


@dataclass(frozen=True)
class Up:
    """What a user has once ``up`` printed its last line: the URL, the lines, a logged-in client."""

    url: str
    lines: list[str]
    client: httpx.Client
    home: Path


def _environment(home: Path) -> dict[str, str]:
    """The user's shell: nothing of the test session's Airflow or MLflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW_", "MLOPS_"))}
    env["MLOPS_HOME"] = str(home)
    # A DataRobot project's sweep small enough for a test (the user's knob, README "Coming from DataRobot").
    env["MLOPS_PROJECT_SWEEP_TRIALS"] = "3"
    env["MLOPS_PROJECT_SWEEP_TIMEOUT_S"] = "60"
    return env


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    home = tmp_path_factory.mktemp("up") / "home"
    env = _environment(home)
    subprocess.run([CLI, "init"], env=env, check=True, capture_output=True, timeout=600)
    (home / "demo-data").mkdir(parents=True)
    make_churn(1500, seed=1).to_csv(home / "demo-data" / "churn_train.csv", index=False)
    port = free_port()
    proc = subprocess.Popen(
        [CLI, "up", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 600
    while not (lines and lines[-1].startswith("password: ")):
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "airflow-mlops up exited:\n" + "".join(lines)
        assert time.monotonic() < deadline, "no password line within 600 s:\n" + "".join(lines)
        lines.append(line)
    url = f"http://127.0.0.1:{port}"
    password = lines[-1].removeprefix("password: ").strip()
    token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    assert token.status_code in (200, 201), token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        yield Up(url, [line.rstrip("\n") for line in lines], client, home)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_start_up_is_quiet_and_ends_with_url_user_and_password(
    up: Up,
) -> None:
    url, lines = up.url, up.lines
    assert len(lines) <= 8, lines
    assert lines[-3:-1] == [f"Airflow is ready: {url}", "user: admin"]
    assert len(lines[-1].removeprefix("password: ")) >= 8


def test_the_api_server_listens_on_loopback_only(up: Up) -> None:
    port = up.url.rsplit(":", 1)[1]
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
    addresses = {line.split()[3].rsplit(":", 1)[0] for line in listening.splitlines() if line.strip()}
    assert addresses == {"127.0.0.1"}, listening


def test_no_plugin_or_dag_import_error_and_the_loop_is_unpaused(
    up: Up,
) -> None:
    client = up.client
    assert client.get("/api/v2/plugins/importErrors").json()["total_entries"] == 0
    deadline = time.monotonic() + 180
    while True:
        dags = {d["dag_id"]: d for d in client.get("/api/v2/dags", params={"limit": 50}).json()["dags"]}
        if {"mlops_train", "mlops_monitor", "mlops_retrain", "mlops_refresh"} <= set(dags):
            break
        assert time.monotonic() < deadline, f"DAGs not parsed within 180 s: {sorted(dags)}"
        time.sleep(2)
    assert client.get("/api/v2/importErrors").json()["total_entries"] == 0
    assert {d: dags[d]["is_paused"] for d in ("mlops_monitor", "mlops_retrain", "mlops_refresh")} == {
        "mlops_monitor": False,
        "mlops_retrain": False,
        "mlops_refresh": False,
    }


def test_the_train_form_runs_with_its_defaults(up: Up) -> None:
    client = up.client
    details = client.get("/api/v2/dags/mlops_train/details")
    assert details.status_code == 200, details.text
    params = details.json()["params"]
    assert params["source"]["value"].endswith("demo-data/churn_train.csv")
    assert None in params["metric"]["schema"]["enum"] and "AUC" in params["metric"]["schema"]["enum"]
    run = client.post("/api/v2/dags/mlops_train/dagRuns", json={"logical_date": None, "conf": {}})
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]
    deadline = time.monotonic() + 900
    while True:
        state = client.get(f"/api/v2/dags/mlops_train/dagRuns/{run_id}").json()["state"]
        if state in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"mlops_train still {state} after 900 s"
        time.sleep(5)
    tasks = client.get(f"/api/v2/dags/mlops_train/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    assert state == "success", {t["task_id"]: t["state"] for t in tasks}
    assert {t["task_id"]: t["state"] for t in tasks}["deploy"] == "success"


def _wait_for_run(client: httpx.Client, dag_id: str, run_id: str, timeout_s: float = 900) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        state = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
        if state in ("success", "failed"):
            return str(state)
        assert time.monotonic() < deadline, f"{dag_id} run {run_id} still {state} after {timeout_s:.0f} s"
        time.sleep(5)


def test_drift_closes_the_loop_under_the_scheduler(up: Up) -> None:
    """Train → traffic from a product launch → mlops_monitor finds drift → its Asset event makes the
    scheduler run mlops_retrain → the model is replaced with reason DATA_DRIFT. No ``dag.test()``."""
    from airflow_mlops.demo import DAY0, DAYS, EXCLUDE, TARGET

    client = up.client
    data = up.home / "loop"  # under MLOPS_HOME: an allowed root for local sources
    data.mkdir()
    train, warehouse = data / "train.csv", data / "warehouse.csv"
    history = make_churn(2000, seed=1, period="reference", start=DAY0, hours=24)
    history.to_csv(train, index=False)
    launch = DAYS[1]
    launch_rows = make_churn(2000, seed=4, period="launch", start=launch.start, hours=24)
    pd.concat([history, launch_rows], ignore_index=True).to_csv(warehouse, index=False)

    conf = {
        "source": str(train),
        "dataset": "loop",
        "target": TARGET,
        "exclude_columns": EXCLUDE,
        "registered_model_name": "loop",
        "label": "Loop under the scheduler",
        "n_trials": 6,
        "timeout_s": 300,
    }
    run = client.post("/api/v2/dags/mlops_train/dagRuns", json={"logical_date": None, "conf": conf})
    assert run.status_code == 200, run.text
    assert _wait_for_run(client, "mlops_train", run.json()["dag_run_id"]) == "success"
    (deployment,) = client.get("/mlops/api/v2/deployments/", params={"search": "Loop under"}).json()["data"]
    deployment_id, first_model = deployment["id"], deployment["model"]["id"]
    settings = client.patch(
        f"/mlops/api/v2/deployments/{deployment_id}/settings/",
        json={
            "associationId": {"columnNames": ["customer_id"]},
            "retraining": {
                "source": str(warehouse),
                "dataWindow": "P1D",
                "timestampColumn": "event_time",
                "metric": "AUC",
                "replacement": "automatic",
            },
        },
    )
    assert settings.status_code == 202, settings.text

    traffic = make_churn(1500, seed=12, period="launch", start=launch.start, hours=24).drop(columns=[TARGET])
    for start in range(0, len(traffic), 250):
        answer = client.post(
            f"/mlops/predApi/v1.0/deployments/{deployment_id}/predictions",
            params={"timestampColumn": "event_time"},
            content=traffic.iloc[start : start + 250].to_json(orient="records", date_format="iso"),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
    time.sleep(2)  # the server's log writer flushes at least every second

    before = {r["dag_run_id"] for r in client.get("/api/v2/dags/mlops_retrain/dagRuns").json()["dag_runs"]}
    monitor = client.post(
        "/api/v2/dags/mlops_monitor/dagRuns",
        json={
            "logical_date": None,
            "conf": {"window_end": launch.end.isoformat(), "window_hours": 24, "report": False},
        },
    )
    assert monitor.status_code == 200, monitor.text
    assert _wait_for_run(client, "mlops_monitor", monitor.json()["dag_run_id"]) == "success"

    deadline = time.monotonic() + 300
    while True:
        runs = client.get("/api/v2/dags/mlops_retrain/dagRuns").json()["dag_runs"]
        new = [r for r in runs if r["dag_run_id"] not in before]
        if new:
            break
        assert time.monotonic() < deadline, "the drift request's Asset event scheduled no mlops_retrain run"
        time.sleep(3)
    (retrain,) = new
    assert retrain["run_type"] == "asset_triggered"
    assert _wait_for_run(client, "mlops_retrain", retrain["dag_run_id"]) == "success"

    history_rows = client.get(f"/mlops/api/v2/deployments/{deployment_id}/modelHistory/").json()["data"]
    last = history_rows[-1]
    assert last["reason"] == "DATA_DRIFT", history_rows
    assert last["newModelVersion"] != first_model.rsplit("/", 1)[1], history_rows


def test_the_datarobot_client_runs_a_project_through_the_scheduler(up: Up) -> None:
    """DataRobot's getting-started script against the plugin's mount: ``set_target`` starts a run of
    ``mlops_project`` that the real scheduler executes; the model it ranks deploys and predicts."""
    import datarobot as dr
    from datarobot_predict.deployment import clear_context, predict

    created = subprocess.run(
        [CLI, "token", "create", "--user", "dr-user", "--expires-in", "1d"],
        env=_environment(up.home),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    dr.Client(token=created.stdout.strip().splitlines()[-1], endpoint=f"{up.url}/mlops/api/v2")
    clear_context()  # datarobot-predict keeps the first client it saw (URL and token) per context
    data = make_churn(600, seed=21)
    project = dr.Project.create(sourcedata=data, project_name="churn")
    project.set_target(target="churned", mode=dr.AUTOPILOT_MODE.QUICK)
    project.wait_for_autopilot(check_interval=5, timeout=900)

    runs = up.client.get("/api/v2/dags/mlops_project/dagRuns").json()["dag_runs"]
    (run,) = [r for r in runs if r["conf"].get("project_id") == project.id]
    # the task records the project's outcome, then ends: the run may finish a moment after autopilot
    assert _wait_for_run(up.client, "mlops_project", run["dag_run_id"], timeout_s=120) == "success", run
    models = project.get_models()
    assert len(models) >= 1 and all(len(m.id) == 32 for m in models)
    scores = [m.metrics["AUC"]["holdout"] for m in models]
    assert all(0.5 < s <= 1 for s in scores), scores

    deployment = dr.Deployment.create_from_learning_model(models[0].id, label="churn from the client")
    assert deployment.default_prediction_server["url"] == f"{up.url}/mlops"
    rows = make_churn(25, seed=22).drop(columns=["churned"])
    frame = predict(deployment, rows).dataframe
    assert len(frame) == 25 and set(frame["churned_PREDICTION"]) <= {0, 1}
