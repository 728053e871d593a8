"""The prediction fast path: it takes only prediction requests, and answers as the routed path would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from helpers.live_server import serve_app

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.model_baseline import build_model_baseline
from airflow_mlops.security import create_token
from airflow_mlops.serving.app import create_app
from airflow_mlops.serving.fast_path import PredictionFastPath, prediction_deployment_id

if TYPE_CHECKING:
    from conftest import RegisteredModels

PATH = "/predApi/v1.0/deployments/{}/predictions"


def _scope(method: str, path: str, root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


@pytest.mark.parametrize(
    ("method", "path", "root_path", "expected"),
    [
        ("POST", PATH.format("abc123"), "", "abc123"),
        ("POST", "/mlops" + PATH.format("abc123"), "/mlops", "abc123"),  # mounted (Airflow's API server)
        ("GET", PATH.format("abc123"), "", None),  # FastAPI answers 405
        ("POST", PATH.format("abc123") + "/", "", None),  # FastAPI's slash handling decides
        ("POST", PATH.format("a/b"), "", None),
        ("POST", PATH.format(""), "", None),
        ("POST", "/predApi/v1.0/deployments/abc123/predictionsX", "", None),
        ("POST", "/api/v2/deployments/", "", None),
    ],
)
def test_only_prediction_requests_take_the_fast_path(
    method: str, path: str, root_path: str, expected: str | None
) -> None:
    assert prediction_deployment_id(_scope(method, path, root_path)) == expected


def test_lifespan_and_websocket_scopes_pass_through() -> None:
    assert prediction_deployment_id({"type": "lifespan"}) is None


def _routed_only(app: FastAPI) -> FastAPI:
    """The same app answering predictions through FastAPI's router (the documented route)."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not PredictionFastPath]
    return app


@pytest.fixture
def two_servers(models: RegisteredModels) -> Iterator[tuple[httpx.Client, httpx.Client, str, str]]:
    """The app with and without the fast path, on one store, with an admin token and a deployment."""
    # With training rows in its baseline, so explanations can be asked for too.
    baseline = build_model_baseline(models.churn_v1, models.train).to_dict()
    deployment = Deployment.create_from_registered_model_version(
        models.churn_v1, "fast path", baseline=baseline
    )
    settings = get_settings()
    _info, token = create_token(settings.store_url, user="tester", is_admin=True)
    fast_app = create_app(settings)
    routed_app = _routed_only(create_app(settings))
    assert any(m.cls is PredictionFastPath for m in fast_app.user_middleware)
    with (
        serve_app(fast_app) as fast_url,
        serve_app(routed_app) as routed_url,
        httpx.Client(base_url=fast_url, timeout=30) as fast,
        httpx.Client(base_url=routed_url, timeout=30) as routed,
    ):
        yield fast, routed, deployment.id, token


_VOLATILE = {"x-request-id", "x-mlops-execution-time", "x-datarobot-execution-time", "date"}


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in _VOLATILE}
    return response.status_code, headers, response.content


def test_fast_path_answers_exactly_as_the_routed_path(
    two_servers: tuple[httpx.Client, httpx.Client, str, str],
) -> None:
    fast, routed, deployment_id, token = two_servers
    rows = make_churn(5, seed=3).drop(columns=["customer_id", "event_time", "churned"])
    good = rows.to_json(orient="records").encode()
    auth = {"Authorization": f"Bearer {token}"}
    cases: list[tuple[str, dict[str, str], bytes, dict[str, str]]] = [
        (deployment_id, auth, good, {}),  # 200
        (deployment_id, {**auth, "Accept": "text/csv"}, good, {}),  # 200, CSV
        (deployment_id, auth, good, {"maxExplanations": "3"}),  # 200, explained
        (deployment_id, {}, good, {}),  # 401, no credential
        (deployment_id, {"Authorization": "Bearer mlops_nope_nope"}, good, {}),  # 401, unknown token
        ("no-such-deployment", auth, good, {}),  # 404
        (deployment_id, auth, b"[{", {}),  # 422, malformed JSON
        (deployment_id, auth, b"\xff\xfe", {}),  # 422, not UTF-8
        (deployment_id, auth, b"[]", {}),  # 422, no rows
        (deployment_id, auth, good, {"maxExplanations": "many"}),  # 422, explanations
        (deployment_id, auth, good, {"passthroughColumnsSet": "some"}),  # 422, query validation
        (deployment_id, {**auth, "X-Request-Id": "has space"}, good, {}),  # 422, request id
    ]
    statuses = []
    for target, headers, body, params in cases:
        kwargs: dict[str, Any] = {
            "content": body,
            "headers": {"Content-Type": "application/json", **headers},
            "params": params,
        }
        url = PATH.format(target)
        a, b = _answer(fast.post(url, **kwargs)), _answer(routed.post(url, **kwargs))
        assert a == b, (target, headers, body, params)
        statuses.append(a[0])
    assert statuses == [200, 200, 200, 401, 401, 404, 422, 422, 422, 422, 422, 422]
    # The request id the client sent is answered back by the fast path too.
    sent = fast.post(PATH.format(deployment_id), content=good, headers={**auth, "X-Request-Id": "r-1"})
    assert sent.headers["X-Request-Id"] == "r-1"
    # Other routes (and other methods on the prediction path) still go through FastAPI.
    assert fast.get(PATH.format(deployment_id), headers=auth).status_code == 405
    assert fast.get(f"/api/v2/deployments/{deployment_id}/", headers=auth).status_code == 200
