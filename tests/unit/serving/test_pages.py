"""The app's browser side: static files from the package, offline API docs, the way to a login.

The app is mounted under ``/mlops`` in a parent app, as Airflow mounts plugin apps,
and called through ASGI (no lifespan: nothing loads models or writes a log).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from airflow_mlops.config import get_settings
from airflow_mlops.security import create_token
from airflow_mlops.serving.app import create_app
from airflow_mlops.serving.pages import STATIC_DIR

REPO = Path(__file__).resolve().parents[3]
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
LOGIN = "/auth/login"


def _login_url(next_url: str) -> str:
    return f"{LOGIN}?{httpx.QueryParams({'next': next_url})}"


def _mounted(app: FastAPI) -> FastAPI:
    host = FastAPI()
    host.mount("/mlops", app)
    return host


def _get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://airflow.test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


def _asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r"url: '([^']+)'", page)


def test_docs_load_nothing_from_another_host_and_their_assets_are_served(mlops_home: Path) -> None:
    host = _mounted(create_app())
    page = _get(host, "/mlops/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")

    urls = _asset_urls(page.text)
    assert len(urls) >= 4, urls  # stylesheet, icon, script, the OpenAPI document
    assert not re.search(r"https?://", page.text), "the docs page names another host"
    for url in urls:
        assert urlsplit(url).netloc == "" and url.startswith("/mlops/"), url
        assert _get(host, url).status_code == 200, url
    assert "/mlops/static/swagger/swagger-ui-bundle.js" in urls
    assert '"validatorUrl": null' in page.text  # the validator badge would load from validator.swagger.io

    script = _get(host, "/mlops/static/swagger/swagger-ui-bundle.js")
    assert "javascript" in script.headers["content-type"] and b"SwaggerUIBundle" in script.content
    assert _get(host, "/mlops/docs/oauth2-redirect").status_code == 200
    assert _get(host, "/mlops/redoc").status_code == 404  # ReDoc would need a CDN: there is none


def test_a_browser_without_a_login_is_sent_to_the_login_page_and_back(mlops_home: Path) -> None:
    host = _mounted(create_app(login_url=_login_url))

    sent = _get(host, "/mlops/docs?tab=1", BROWSER)
    assert sent.status_code == 307
    assert sent.headers["location"] == _login_url("/mlops/docs?tab=1")

    # A script is not a browser: the same JSON 401 as every API route.
    script = _get(host, "/mlops/docs")
    assert script.status_code == 401 and "authentication required" in script.json()["detail"]
    api = _get(host, "/mlops/api/v2/deployments/", BROWSER)
    assert api.status_code == 401 and api.headers["content-type"] == "application/json"

    _info, token = create_token(get_settings().store_url, user="reader")
    with_login = _get(host, "/mlops/docs", {**BROWSER, "Authorization": f"Bearer {token}"})
    assert with_login.status_code == 200 and "swagger-ui" in with_login.text
    wrong = _get(host, "/mlops/docs", {**BROWSER, "Authorization": "Bearer mlops_0_nope"})
    assert wrong.status_code == 307, "a bad credential is no login either"

    # Static files hold no data and the Airflow UI loads them before anyone logs in.
    assert _get(host, "/mlops/static/icon.svg").status_code == 200


def test_the_standalone_server_keeps_its_docs_open(mlops_home: Path) -> None:
    assert _get(create_app(), "/docs", BROWSER).status_code == 200


def test_the_package_data_carries_the_static_files(tmp_path: Path) -> None:
    """What a wheel would hold: setuptools' build_py on a copy of the project, with its package-data."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "plugins" / "airflow_mlops",
        source / "plugins" / "airflow_mlops",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    built = tmp_path / "lib"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "--build-lib",
            str(built),
        ],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    shipped = {
        p.relative_to(built / "airflow_mlops" / "serving" / "static") for p in built.rglob("static/**/*")
    }
    wanted = {p.relative_to(STATIC_DIR) for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert {
        Path("console/main.umd.js"),
        Path("icon.svg"),
        Path("icon-dark.svg"),
        Path("swagger/swagger-ui-bundle.js"),
        Path("swagger/swagger-ui.css"),
    } <= wanted
    assert wanted <= shipped
