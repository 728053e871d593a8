"""The live app fixture for serving tests: the real app under uvicorn on loopback, with a token."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.security import create_token
from airflow_mlops.serving.app import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    url: str
    app: FastAPI
    settings: Settings
    deployment: Deployment
    client: httpx.Client

    def predict(
        self, body: bytes | str, content_type: str = "application/json", **params: Any
    ) -> httpx.Response:
        return self.client.post(
            f"/predApi/v1.0/deployments/{self.deployment.id}/predictions",
            content=body,
            headers={"Content-Type": content_type},
            params=params,
        )


@contextmanager
def serve(deployment: Deployment, loader: Any = None) -> Iterator[Live]:
    """The real app under uvicorn in a thread, a client with an admin token for ``deployment``."""
    settings = get_settings()
    app = create_app(settings, loader=loader)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert thread.is_alive(), "uvicorn exited during start-up"
        assert time.monotonic() < deadline, "the app did not answer /health within 20 s"
        time.sleep(0.05)
    _info, token = create_token(settings.store_url, user="tester", is_admin=True)
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        yield Live(url, app, settings, deployment, client)
    server.should_exit = True
    thread.join(20)
    assert not thread.is_alive(), "uvicorn did not shut down"
