"""The app mounted in a real Airflow API server accepts an Airflow login or a token, nothing else."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from helpers.live_server import free_port, serve_process

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.security import create_token

if TYPE_CHECKING:
    from conftest import RegisteredModels

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def airflow_api(airflow_db: Path, models: RegisteredModels, tmp_path: Path) -> Iterator[str]:
    """``airflow api-server`` on loopback, SimpleAuthManager with an admin (alice) and a viewer (bob)."""
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(USERS))
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "alice:admin,bob:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API_AUTH__JWT_SECRET": "test-secret-for-the-plugin-login-test",
            "AIRFLOW__API__PORT": str(port),
        }
    )
    airflow = Path(sys.executable).with_name("airflow")
    url = f"http://127.0.0.1:{port}"
    with serve_process(
        [str(airflow), "api-server", "--port", str(port), "--host", "127.0.0.1"],
        ready_url=f"{url}/mlops/health",
        env=env,
        timeout=180,
        interval=1,
    ):
        yield url


def _login(url: str, user: str) -> str:
    response = httpx.post(f"{url}/auth/token", json={"username": user, "password": USERS[user]}, timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


def test_mounted_routes_need_an_airflow_login_or_a_token(airflow_api: str, models: RegisteredModels) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "mounted", owners=["carol"])
    route = f"{airflow_api}/mlops/api/v2/deployments/"

    assert httpx.get(route, timeout=30).status_code == 401
    assert httpx.get(route, headers={"Authorization": "Bearer not.a.jwt"}, timeout=30).status_code == 401

    admin = httpx.get(route, headers={"Authorization": f"Bearer {_login(airflow_api, 'alice')}"}, timeout=30)
    assert admin.status_code == 200
    assert [d["id"] for d in admin.json()["data"]] == [deployment.id], (
        "an Airflow admin sees every deployment"
    )

    viewer = httpx.get(route, headers={"Authorization": f"Bearer {_login(airflow_api, 'bob')}"}, timeout=30)
    assert viewer.status_code == 200
    assert viewer.json()["data"] == [], "an Airflow user without a role sees none"

    cookie = {"_token": _login(airflow_api, "alice")}
    listed = httpx.get(route, cookies=cookie, timeout=30)
    assert listed.status_code == 200, "the UI session cookie works: what the console sends"
    assert [d["permissions"] for d in listed.json()["data"]] == [
        ["predict", "read", "update", "settings", "replace", "delete", "share"]
    ]
    assert (
        httpx.get(f"{airflow_api}/mlops/docs", cookies=cookie, headers=BROWSER, timeout=30).status_code == 200
    )

    _info, token = create_token(get_settings().store_url, user="carol")
    owner = httpx.get(route, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert owner.status_code == 200 and [d["id"] for d in owner.json()["data"]] == [deployment.id]


def test_a_browser_without_a_login_lands_on_airflows_login_page(airflow_api: str) -> None:
    docs = f"{airflow_api}/mlops/docs"
    sent = httpx.get(docs, headers=BROWSER, timeout=30)
    assert sent.status_code in (302, 307), sent.text
    location = httpx.URL(sent.headers["location"])
    assert location.path == "/auth/login", location  # SimpleAuthManager's login page
    assert location.params["next"] == "/mlops/docs"
    login = httpx.get(docs, headers=BROWSER, follow_redirects=True, timeout=30)
    assert login.status_code == 200 and login.url.path == "/auth/login"
    assert "text/html" in login.headers["content-type"]

    # An expired or forged login is no login either; scripts keep their JSON 401.
    forged = httpx.get(docs, headers=BROWSER, cookies={"_token": "not.a.jwt"}, timeout=30)
    assert forged.status_code in (302, 307)
    assert httpx.get(docs, timeout=30).status_code == 401
    api = httpx.get(f"{airflow_api}/mlops/api/v2/deployments/", headers=BROWSER, timeout=30)
    assert api.status_code == 401 and api.json()["detail"].startswith("authentication required")
    # The console's files load before anyone logs in (the Airflow UI fetches them itself).
    assert httpx.get(f"{airflow_api}/mlops/static/console/main.umd.js", timeout=30).status_code == 200
