"""The live app fixture for serving tests: the real app under uvicorn on loopback, with a token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from helpers.live_server import serve_app

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.security import create_token
from airflow_mlops.serving.app import create_app


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
    with serve_app(app) as url:
        _info, token = create_token(settings.store_url, user="tester", is_admin=True)
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
            yield Live(url, app, settings, deployment, client)
