"""The Airflow plugin and provider: found through their entry points, and what Airflow sees of them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from fastapi import FastAPI

from airflow_mlops.serving.app import create_app

DISTRIBUTION = "airflow-mlops"


def _entry_point(group: str, value: str) -> metadata.EntryPoint:
    matches = [ep for ep in metadata.entry_points(group=group) if ep.value == value]
    assert len(matches) == 1, f"{group}: {list(metadata.entry_points(group=group))}"
    return matches[0]


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)


async def _get(app: FastAPI, path: str) -> Any:
    """A request straight into the ASGI app (no lifespan, so no model cache or log writer starts)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mlops") as client:
        response = await client.get(path)
    response.raise_for_status()
    return response.json()


async def _fetch(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mlops") as client:
        return await client.get(path)


def test_plugin_is_discovered_through_its_entry_point() -> None:
    from airflow.plugins_manager import AirflowPlugin

    from airflow_mlops.plugin import MLOpsPlugin

    ep = _entry_point("airflow.plugins", "airflow_mlops.plugin:MLOpsPlugin")
    assert ep.name == "airflow_mlops"
    assert ep.dist is not None and ep.dist.name == DISTRIBUTION
    plugin = ep.load()
    assert plugin is MLOpsPlugin
    assert issubclass(plugin, AirflowPlugin)
    assert plugin.name == "airflow_mlops"


def test_plugin_mounts_the_app_under_mlops_and_serves_the_consoles_files() -> None:
    from airflow_mlops.plugin import MLOpsPlugin

    (mounted,) = MLOpsPlugin.fastapi_apps
    assert mounted["url_prefix"] == "/mlops"
    assert mounted["name"] == "airflow-mlops"
    app = mounted["app"]
    assert isinstance(app, FastAPI)
    assert asyncio.run(_get(app, "/health")) == {"status": "ok"}
    paths = {getattr(route, "path", None) for route in app.routes}
    assert "/predApi/v1.0/deployments/{deployment_id}/predictions" in paths
    assert not MLOpsPlugin.external_views, "the console replaced the iframe page"

    (console,) = MLOpsPlugin.react_apps
    assert (console["name"], console["destination"], console["url_route"]) == ("MLOps", "nav", "mlops")
    assert console["bundle_url"] == "/mlops/static/console/main.umd.js"
    for key, kind in (
        ("bundle_url", "javascript"),
        ("icon", "image/svg+xml"),
        ("icon_dark_mode", "image/svg+xml"),
    ):
        assert console[key].startswith(mounted["url_prefix"] + "/"), key
        response = asyncio.run(_fetch(app, console[key].removeprefix(mounted["url_prefix"])))
        assert response.status_code == 200, (key, response.status_code)
        assert kind in response.headers["content-type"], (key, response.headers["content-type"])


def test_airflow_lists_the_plugin_once() -> None:
    """Airflow's own discovery: the entry point, and not a second copy from the plugins folder."""
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "plugins", "--output", "json"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    plugins = [p for p in json.loads(done.stdout) if p["name"] == "airflow_mlops"]

    assert len(plugins) == 1, done.stdout
    (plugin,) = plugins
    assert [(a["url_prefix"], a["name"]) for a in plugin["fastapi_apps"]] == [("/mlops", "airflow-mlops")]
    assert plugin["source"].startswith(f"{DISTRIBUTION}==")
    assert plugin["external_views"] == []
    assert [(r["name"], r["url_route"], r["bundle_url"]) for r in plugin["react_apps"]] == [
        ("MLOps", "mlops", "/mlops/static/console/main.umd.js")
    ]


def test_provider_info_validates_against_airflows_schema() -> None:
    import airflow

    from airflow_mlops.provider import get_provider_info

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()

    jsonschema.validate(info, schema)
    assert info["package-name"] == DISTRIBUTION
    assert metadata.version(DISTRIBUTION) in info["versions"]


def test_provider_entry_point_resolves() -> None:
    from airflow_mlops.provider import get_provider_info

    ep = _entry_point("apache_airflow_provider", "airflow_mlops.provider:get_provider_info")
    assert ep.dist is not None and ep.dist.name == DISTRIBUTION
    loaded = ep.load()
    assert loaded is get_provider_info
    assert loaded()["package-name"] == DISTRIBUTION


def test_airflow_providers_manager_knows_the_provider() -> None:
    from airflow.providers_manager import ProvidersManager

    provider = ProvidersManager().providers[DISTRIBUTION]

    assert provider.version == metadata.version(DISTRIBUTION)
    # The plugin comes through its own entry point only: a second declaration here is an import error.
    assert "plugins" not in provider.data


def test_airflow_reports_no_plugin_import_error() -> None:
    """What the Airflow UI shows in red: ``plugins_manager.get_import_errors()`` in a fresh interpreter."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from airflow import plugins_manager; "
            "print(json.dumps({'errors': plugins_manager.get_import_errors(), "
            "'plugins': [p['name'] for p in plugins_manager.get_plugin_info()]}))",
        ],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert report["plugins"].count("airflow_mlops") == 1


def test_the_plugin_runs_projects_as_dag_runs_without_changing_other_apps() -> None:
    """The plugin's app defaults to the ``airflow`` project runner; importing the plugin leaves every
    other app (``airflow-mlops serve``, tests) on ``local``: the default is the app's, not the process's."""
    import_module("airflow_mlops.plugin")
    from airflow_mlops.services.project_runners import get_runner

    assert get_runner().name == "local"
    assert get_runner(default="airflow").name == "airflow"
    from airflow_mlops.plugin import MLOpsPlugin

    assert MLOpsPlugin.fastapi_apps[0]["app"].state.project_runner == "airflow"
    assert create_app().state.project_runner == "local"
