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
from pathlib import Path

import httpx
import pytest
from helpers.live_server import free_port

from airflow_mlops.datasets.synthetic import make_churn

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).with_name("airflow-mlops"))


def _environment(home: Path) -> dict[str, str]:
    """The user's shell: nothing of the test session's Airflow or MLflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW_", "MLOPS_"))}
    env["MLOPS_HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str], httpx.Client]]:
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
        yield url, [line.rstrip("\n") for line in lines], client
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_start_up_is_quiet_and_ends_with_url_user_and_password(
    up: tuple[str, list[str], httpx.Client],
) -> None:
    url, lines, _client = up
    assert len(lines) <= 8, lines
    assert lines[-3:-1] == [f"Airflow is ready: {url}", "user: admin"]
    assert len(lines[-1].removeprefix("password: ")) >= 8


def test_the_api_server_listens_on_loopback_only(up: tuple[str, list[str], httpx.Client]) -> None:
    url, _lines, _client = up
    port = url.rsplit(":", 1)[1]
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
    addresses = {line.split()[3].rsplit(":", 1)[0] for line in listening.splitlines() if line.strip()}
    assert addresses == {"127.0.0.1"}, listening


def test_no_plugin_or_dag_import_error_and_the_loop_is_unpaused(
    up: tuple[str, list[str], httpx.Client],
) -> None:
    _url, _lines, client = up
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


def test_the_train_form_runs_with_its_defaults(up: tuple[str, list[str], httpx.Client]) -> None:
    _url, _lines, client = up
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
