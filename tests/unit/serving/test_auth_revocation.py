"""A revocation or role change reaches every worker of a real two-worker server within FRESH_S.

Each worker caches verified tokens and roles (``security.auth_cache``); the test warms
the caches of both workers with fresh connections (the kernel spreads them across the
workers' shared socket), changes the store, waits the stated bound, and then requires
every one of many fresh connections to see the change.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from helpers.live_server import free_port, serve_process

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.security import FRESH_S, create_token, revoke_token

if TYPE_CHECKING:
    from conftest import RegisteredModels

CONNECTIONS = 24  # fresh connections per check: both workers answer some of them


def _statuses(url: str, path: str, body: str, token: str) -> list[int]:
    statuses = []
    for _ in range(CONNECTIONS):
        with httpx.Client(base_url=url, timeout=30) as client:  # a new connection each time
            response = client.post(
                path,
                content=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            statuses.append(response.status_code)
    return statuses


def test_revocation_and_role_changes_reach_both_workers_within_the_bound(models: RegisteredModels) -> None:
    settings = get_settings()
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "revoke")
    revoked_info, revoked = create_token(settings.store_url, user="carol")
    _info, shared = create_token(settings.store_url, user="dave")
    deployment.share("carol", "CONSUMER")
    deployment.share("dave", "CONSUMER")
    body = make_churn(2, seed=3).drop(columns=["churned", "event_time"]).to_json(orient="records")
    path = f"/predApi/v1.0/deployments/{deployment.id}/predictions"
    port = free_port()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "airflow_mlops.cli", "serve", "--port", str(port), "--workers", "2"]
    url = f"http://127.0.0.1:{port}"
    with serve_process(command, ready_url=f"{url}/health", env=env, timeout=120):
        assert set(_statuses(url, path, body, revoked)) == {200}
        assert set(_statuses(url, path, body, shared)) == {200}

        revoke_token(settings.store_url, revoked_info.id)
        deployment.unshare("dave")
        time.sleep(FRESH_S)
        assert set(_statuses(url, path, body, revoked)) == {401}
        assert set(_statuses(url, path, body, shared)) == {404}  # no role: the deployment is hidden

        deployment.share("dave", "USER")  # a role given back: the cached "no role" goes too
        time.sleep(FRESH_S)
        assert set(_statuses(url, path, body, shared)) == {200}
