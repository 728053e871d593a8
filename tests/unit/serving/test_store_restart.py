"""The store (PostgreSQL) stopped and started again under load: nothing answered is lost.

A real ``airflow-mlops serve`` process on a private PostgreSQL cluster
(:mod:`helpers.private_postgres`), and a separate load process
(:mod:`helpers.load_client`) posting predictions and reading the management API the
whole time. While the store is away, predictions for the cached model by a caller whose
token and role are cached keep being answered; management calls answer 503 naming the
store and saying to retry; once the store is back everything answers 200 again without
restarting the server, the watcher threads follow the store again, and the prediction
log holds every row that was answered 200.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from helpers import load_client
from helpers.live_server import free_port, serve_process
from helpers.private_postgres import PostgresUnavailable, PrivateCluster, private_postgres

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.prediction_log import list_log_files, read_log_files
from airflow_mlops.security import create_token, revoke_token
from airflow_mlops.store import dispose_engines, migrate

if TYPE_CHECKING:
    from conftest import RegisteredModels

ROWS_PER_REQUEST = 5
DATABASE = "mlops_restart"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    try:
        with private_postgres() as running:
            yield running
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server binaries to run a private cluster: {exc}")


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_for(what: str, check: Any, timeout: float) -> float:
    """Poll ``check()`` until true; returns the time it first was."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(0.05)
    return time.time()


def test_store_restart_under_load_loses_nothing(
    models: RegisteredModels, cluster: PrivateCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cluster.create_database(DATABASE)
    migrate(url)
    monkeypatch.setenv("MLOPS_STORE_URL", url)
    settings = get_settings()
    deployment = Deployment.create_from_registered_model_version(
        models.churn_v1, "store-restart", owners=["alice"], store_url=url
    )
    token_info, token = create_token(url, user="alice")  # not an admin: the role is looked up (and cached)
    body = (
        make_churn(ROWS_PER_REQUEST, seed=3).drop(columns=["churned", "event_time"]).to_json(orient="records")
    )
    body_file = tmp_path / "body.json"
    body_file.write_text(body)
    out, stop_file = tmp_path / "answers.jsonl", tmp_path / "stop"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    predict_path = f"/predApi/v1.0/deployments/{deployment.id}/predictions"
    headers = {"Authorization": f"Bearer {token}"}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    stderr: list[bytes] = []
    command = [sys.executable, "-m", "airflow_mlops.cli", "serve", "--port", str(port)]
    probe_rows = 0
    with serve_process(
        command, ready_url=f"{base}/health", env=env, stderr_lines=stderr, timeout=120
    ) as server:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            # Before the outage the caller's token and role, and the model, get cached.
            warm = client.post(predict_path, content=body, headers={"Content-Type": "application/json"})
            assert warm.status_code == 200, warm.text
            probe_rows += len(warm.json()["data"])
            assert client.get("/api/v2/deployments/").status_code == 200

        load = subprocess.Popen(
            [
                sys.executable,
                load_client.__file__,
                *("--base-url", base, "--token", token, "--deployment", deployment.id),
                *("--body-file", str(body_file), "--out", str(out), "--stop-file", str(stop_file)),
            ]
        )
        try:
            _wait_for("traffic before the outage", lambda: len(_read(out)) >= 20, 20)
            time.sleep(1.0)
            stopping = time.time()
            cluster.stop("fast")
            stopped = time.time()
            time.sleep(3.0)  # the store is away
            starting = time.time()
            cluster.start()
            started = time.time()
            _wait_for(
                "a management call answered 200 after the store came back",
                lambda: any(
                    r["kind"] != "predict" and r["sent"] > started and r["status"] == 200 for r in _read(out)
                ),
                5,
            )
            time.sleep(2.0)  # and it keeps answering
        finally:
            stop_file.touch()
            load.wait(30)
        assert load.returncode == 0

        # The watcher threads follow the store again: a deactivation reaches the model cache,
        # a revocation reaches the auth cache (within its 1 s bound), with no server restart.
        Deployment.get(deployment.id, store_url=url).deactivate(actor="alice")
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:

            def predict_status() -> int:
                nonlocal probe_rows
                probe = client.post(predict_path, content=body, headers={"Content-Type": "application/json"})
                if probe.status_code == 200:  # answered, so logged too
                    probe_rows += len(probe.json()["data"])
                return probe.status_code

            _wait_for("the model cache saw the deactivation", lambda: predict_status() == 422, 5)
            revoke_token(url, token_info.id)
            _wait_for("the auth cache saw the revocation", lambda: predict_status() == 401, 5)

        server.send_signal(signal.SIGTERM)  # flushes the prediction log
        server.wait(30)
    dispose_engines()

    records = _read(out)
    predictions = [r for r in records if r["kind"] == "predict"]
    management = [r for r in records if r["kind"] != "predict"]
    unexpected = [r for r in records if r["status"] not in (200, 503)]
    assert not unexpected, f"answers other than 200/503: {unexpected[:5]}"

    # Predictions: every one answered, before, during and after the outage.
    assert all(r["status"] == 200 and r["rows"] == ROWS_PER_REQUEST for r in predictions)
    during = [r for r in predictions if r["sent"] > stopped and r["done"] < starting]
    assert len(during) >= 10, f"only {len(during)} predictions while the store was away"

    # Management: 200 before, 503 naming the store while it is away, 200 again soon after.
    before = [r for r in management if r["done"] < stopping]
    assert before and all(r["status"] == 200 for r in before)
    away = [r for r in management if r["sent"] > stopped and r["done"] < starting]
    assert len(away) >= 5, f"only {len(away)} management calls while the store was away"
    for r in away:
        assert r["status"] == 503, r
        assert f"{cluster.address}/{DATABASE}" in r["message"] and "unreachable" in r["message"], r
        assert "retry" in r["message"].lower() and r["detail"] == r["message"], r
        assert r["retry_after"] is not None and int(r["retry_after"]) > 0, r
    back = sorted((r for r in management if r["sent"] > started), key=lambda r: r["sent"])
    first_ok = next(i for i, r in enumerate(back) if r["status"] == 200)
    assert back[first_ok]["sent"] - started < 5
    assert len(back[first_ok:]) >= 5 and all(r["status"] == 200 for r in back[first_ok:]), back[first_ok:]

    # The prediction log holds every row answered 200 (SIGTERM flushed it).
    answered = probe_rows + sum(r["rows"] for r in predictions)
    logged = len(read_log_files(list_log_files(settings.prediction_log_dir, deployment.id)))
    assert logged == answered

    # Each watcher said once that the store was away, and once that it was back; no tracebacks.
    text = b"".join(stderr).decode(errors="replace")
    assert text.count("model cache: cannot reach the MLOps store") == 1, text[-3000:]
    assert text.count("auth cache: cannot read the auth epoch") == 1, text[-3000:]
    assert "model cache: the MLOps store answers again" in text, text[-3000:]
    assert "auth cache: the store answers again" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
