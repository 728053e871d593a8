"""A model replacement asked for while the MLflow tracking server is down, with a real `mlflow server`.

The registry is a real ``mlflow server`` process (on a copy of the session's
SQLite registry), the prediction and management API a real ``airflow-mlops serve``
process under steady load. The MLflow server is then killed and the replacement
requested, by REST and from Python: both fail within seconds with an error naming
MLflow's URI, and the deployment keeps serving its model, unchanged.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from helpers.live_server import free_port, serve_process, wait_until_ready

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.errors import RegistryUnavailable
from airflow_mlops.security import create_token

if TYPE_CHECKING:
    from conftest import RegisteredModels

ROWS_PER_REQUEST = 3
SENDERS = 3


@contextmanager
def _mlflow_server(tmp_path: Path, registry_uri: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``mlflow server`` on a copy of ``registry_uri``'s SQLite file, in its own process group.

    Its own group because ``mlflow server`` runs the web server as a child process:
    killing the parent alone would leave the child answering.
    """
    mlflow = Path(sys.executable).with_name("mlflow")
    if not mlflow.exists():
        pytest.skip(f"no mlflow executable next to {sys.executable}")
    db = tmp_path / "mlflow-server.db"
    shutil.copy(registry_uri.removeprefix("sqlite:///"), db)
    port = free_port()
    log = (tmp_path / "mlflow-server.log").open("wb")
    command = [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{db}", "--host", "127.0.0.1"]
    # uvicorn kills a worker that has not answered its health check in 5 s: on a busy machine
    # the worker is still importing MLflow by then, and start-up never ends.
    command += ["--port", str(port), "--workers", "1", "--uvicorn-opts", "--timeout-worker-healthcheck 120"]
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:

        def exited() -> str | None:
            if proc.poll() is None:
                return None
            return f"exit code {proc.returncode}: {(tmp_path / 'mlflow-server.log').read_text()[-3000:]}"

        wait_until_ready(f"{uri}/health", exited=exited, timeout=180, interval=0.2)
        yield uri, proc
    finally:
        with_group_killed(proc)
        log.close()


def with_group_killed(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything it started (no graceful goodbye: MLflow just vanishes)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def test_replacement_while_mlflow_is_down_fails_clearly_and_the_model_keeps_serving(
    models: RegisteredModels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _mlflow_server(tmp_path, models.tracking_uri) as (mlflow_uri, mlflow_proc):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", mlflow_uri)
        settings = get_settings()
        deployment = Deployment.create_from_registered_model_version(models.churn_v1, "mlflow-down")
        _info, token = create_token(settings.store_url, user="tester", is_admin=True)
        history = deployment.get_model_history()
        body = (
            make_churn(ROWS_PER_REQUEST, seed=4)
            .drop(columns=["churned", "event_time"])
            .to_json(orient="records")
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        path = f"/predApi/v1.0/deployments/{deployment.id}/predictions"
        headers = {"Authorization": f"Bearer {token}"}
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
            env.pop(name, None)  # the server's own bound applies, not one inherited here

        answers: list[tuple[float, int, str]] = []  # (time, status, model id)
        stop = threading.Event()
        lock = threading.Lock()

        def send() -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                while not stop.is_set():
                    r = client.post(
                        path, content=body, headers={**headers, "Content-Type": "application/json"}
                    )
                    with lock:
                        answers.append(
                            (time.monotonic(), r.status_code, r.headers.get("X-MLOps-Model-Id", ""))
                        )

        command = [sys.executable, "-m", "airflow_mlops.cli", "serve", "--port", str(port)]
        senders = [threading.Thread(target=send) for _ in range(SENDERS)]
        with serve_process(command, ready_url=f"{base}/health", env=env, timeout=120):
            first = httpx.post(
                base + path, content=body, headers={**headers, "Content-Type": "application/json"}, timeout=60
            )
            assert first.status_code == 200, first.text
            assert first.headers["X-MLOps-Model-Id"] == models.churn_v1
            try:
                for t in senders:
                    t.start()
                time.sleep(1)
                with_group_killed(mlflow_proc)
                killed_at = time.monotonic()
                with pytest.raises(httpx.HTTPError):
                    httpx.get(f"{mlflow_uri}/health", timeout=2)

                began = time.monotonic()
                replaced = httpx.patch(
                    f"{base}/api/v2/deployments/{deployment.id}/model/",
                    json={"modelId": models.churn_v2, "reason": "ACCURACY"},
                    headers=headers,
                    timeout=120,
                )
                took = time.monotonic() - began
                assert replaced.status_code == 503, replaced.text
                message = replaced.json()["message"]
                assert f"the MLflow registry at {mlflow_uri} is unreachable" in message
                assert f"it keeps serving {models.churn_v1!r}" in message
                assert took < 20, f"the 503 took {took:.1f} s"
                assert replaced.headers["Retry-After"].isdigit()

                # From Python (a DAG task): MLflow's own retry settings apply; bounded here to keep the test short.
                monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
                with pytest.raises(
                    RegistryUnavailable, match=f"the MLflow registry at {mlflow_uri} is unreachable"
                ):
                    Deployment.get(deployment.id).replace_model(models.churn_v2, "ACCURACY")
                time.sleep(1)  # predictions after the failed replacement
            finally:
                stop.set()
                for t in senders:
                    t.join(30)

        after = Deployment.get(deployment.id)
        assert after.model["id"] == models.churn_v1
        assert after.get_model_history() == history
        with lock:
            during = [a for a in answers if a[0] >= killed_at]
        assert len(during) >= 10, "too little traffic while MLflow was down"
        assert {(status, model) for _, status, model in answers} == {(200, models.churn_v1)}
