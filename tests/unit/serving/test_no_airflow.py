"""``airflow-mlops serve`` answers every route without importing Airflow.

The prediction server is a core package: it must start fast and run where Airflow is
not installed or configured. The check runs the real CLI (``airflow-mlops serve``) in a
fresh interpreter, calls every route the app documents (``fromLearningModel`` included)
over loopback, then reports which ``airflow`` modules that interpreter loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

from helpers.live_server import free_port

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.security import create_token

if TYPE_CHECKING:
    from conftest import RegisteredModels

SERVER_AND_CALLER = textwrap.dedent(
    """
    import json, os, sys, threading, time

    import httpx

    from airflow_mlops.cli import main

    port, token, deployment_id, model_id = sys.argv[1:5]
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--host", "127.0.0.1", "--port", port, "--workers", "1"]
    threading.Thread(target=main, args=(args,), daemon=True).start()
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.1)
    client = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"})
    paths = client.get("/openapi.json").json()["paths"]
    bodies = {
        "/api/v2/deployments/fromLearningModel/": {
            "modelId": "0" * 32, "registeredModelName": "nowhere", "label": "from a trial",
        },
        "/api/v2/deployments/fromModelPackage/": {"modelPackageId": model_id, "label": "second"},
    }
    calls = []
    # DELETE last: it removes the deployment the other routes read.
    order = {"get": 0, "post": 1, "put": 1, "patch": 2, "delete": 3}
    routes = sorted(
        ((path, method) for path, ops in paths.items() for method in ops if method in order),
        key=lambda pm: (order[pm[1]], pm[0]),
    )
    for path, method in routes:
        concrete = path.replace("{deployment_id}", deployment_id).replace("{request_id}", "0" * 32)
        concrete = concrete.replace("{token_id}", "0" * 32)
        if method == "post" and "predictions" in path:
            answer = client.post(concrete, json=[{"tenure_months": 3}])
        elif method in ("post", "put", "patch"):
            answer = client.request(method.upper(), concrete, json=bodies.get(path, {}))
        else:
            answer = client.request(method.upper(), concrete)
        calls.append([method.upper(), path, answer.status_code])
    loaded = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
    print(json.dumps({"calls": calls, "airflow": loaded}))
    sys.stdout.flush()
    os._exit(0)
    """
)


def test_serve_and_every_route_never_import_airflow(models: RegisteredModels) -> None:
    settings = get_settings()
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "no airflow")
    _info, token = create_token(settings.store_url, user="admin", is_admin=True)
    done = subprocess.run(
        [sys.executable, "-c", SERVER_AND_CALLER, str(free_port()), token, deployment.id, models.churn_v2],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    called = {(method, path) for method, path, _status in report["calls"]}
    assert ("POST", "/api/v2/deployments/fromLearningModel/") in called
    assert len(called) >= 20, report["calls"]
    server_errors = [call for call in report["calls"] if call[2] >= 500]
    assert not server_errors, server_errors
    assert report["airflow"] == [], f"serving imported Airflow modules: {report['airflow'][:10]}"
