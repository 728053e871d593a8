"""Service stats from what the server logs per request: callers, cache hits, execution time, request ids.

Two callers (two tokens) send predictions through the real server on loopback to
a deployment whose model is cold at first; after the monitoring fold,
``serviceStats/`` and ``Deployment.get_service_stats`` must count both callers,
the one cold request as a cache miss, and an execution time read from the
model call's duration (not a copy of the response time). Each number is checked
against a direct computation on the rows the server wrote to the prediction log.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd
import pytest
from monitoring_traffic import D, H, fold

from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.service import hist_quantile, latency_hist
from airflow_mlops.prediction_log import list_log_files, read_log_files

if TYPE_CHECKING:
    from conftest import LiveServer


def _post(
    client: httpx.Client,
    deployment_id: str,
    rows: pd.DataFrame,
    *,
    request_id: str | None = None,
    accept: str = "application/json",
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Accept": accept}
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    response = client.post(
        f"/predApi/v1.0/deployments/{deployment_id}/predictions",
        params={"timestampColumn": "ts"},
        content=rows.to_json(orient="records"),
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response


def _wait_warm(server: LiveServer) -> None:
    """The server warms the deployments that exist at start-up; a later one must start cold."""
    deadline = time.monotonic() + 60
    while server.app.state.model_cache.warming:
        assert time.monotonic() < deadline, "the model cache is still warming after 60 s"
        time.sleep(0.05)


def test_service_stats_count_callers_cache_hits_and_execution_time(server: LiveServer) -> None:
    _wait_warm(server)
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    deployment = server.deploy(owner=alice, shares={bob: "CONSUMER"})
    features = server.rows_frame(10).assign(ts=(H + timedelta(minutes=7)).isoformat())
    assert not server.app.state.model_cache.is_loaded(deployment.id)

    tokens = {alice: server.token(alice), bob: server.token(bob)}
    with server.client(tokens[alice]) as a, server.client(tokens[bob]) as b:
        cold = _post(a, deployment.id, features.iloc[0:3], request_id="alice-first")
        warm = _post(a, deployment.id, features.iloc[3:5])  # no id sent: the server makes one
        csv = _post(b, deployment.id, features.iloc[5:9], request_id="bob-paged", accept="text/csv")
        # The same id again: the client says it is the same request (a second page), so it counts once.
        _post(b, deployment.id, features.iloc[9:10], request_id="bob-paged")
    assert cold.headers["X-Request-Id"] == "alice-first"
    assert (cold.headers["X-DataRobot-Model-Cache-Hit"], warm.headers["X-DataRobot-Model-Cache-Hit"]) == (
        "false",
        "true",
    )
    made = warm.headers["X-Request-Id"]
    assert len(made) == 32 and int(made, 16) >= 0, "a server-made id is a uuid4 in hex"
    assert csv.headers["content-type"].startswith("text/csv")
    fold(server, deployment)

    # What the server wrote: one id, caller, cache flag and execution time per request, on every row.
    log = read_log_files(list_log_files(server.settings.prediction_log_dir, deployment.id))
    assert len(log) == 10
    per_request = log.groupby("request_id", sort=False).agg(
        rows=("row_id", "size"),
        callers=("caller", "unique"),
        hits=("cache_hit", "unique"),
        latency=("latency_ms", "first"),
        execution=("execution_ms", "first"),
    )
    assert dict(per_request["rows"]) == {"alice-first": 3, made: 2, "bob-paged": 5}
    assert {k: list(v) for k, v in per_request["callers"].items()} == {
        "alice-first": [alice],
        made: [alice],
        "bob-paged": [bob],
    }
    assert [bool(v) for v in log.loc[log["request_id"] == "alice-first", "cache_hit"]] == [False] * 3
    assert log.loc[log["request_id"] != "alice-first", "cache_hit"].astype(bool).all()
    assert not set(tokens.values()) & set(log["caller"]), "the caller's name, never its token"
    # The model call is part of the request: shorter than the whole answer, and never zero.
    assert (log["execution_ms"] > 0).all() and (log["execution_ms"] < log["latency_ms"]).all()

    # What the fold made of it, over REST and in Python.
    window = {"start": H.isoformat(), "end": (H + timedelta(hours=1)).isoformat()}
    with server.client(tokens[alice]) as a:
        response = a.get(f"{D}/{deployment.id}/serviceStats/", params=window)
    assert response.status_code == 200, response.text
    rest = response.json()["metrics"]
    ours = Deployment.get(deployment.id).get_service_stats(None, window["start"], window["end"]).metrics
    assert rest == ours

    # A request's first row carries what it counts (cache hit, latency, execution time).
    firsts = log.drop_duplicates("request_id", keep="first")
    assert rest["totalPredictions"] == 10
    assert rest["totalRequests"] == 3, "rows group by request id (the paged request counts once)"
    assert rest["numConsumers"] == 2
    assert rest["cacheHitRatio"] == pytest.approx(2 / 3), "one cold request of three"
    want_execution = hist_quantile(latency_hist(firsts["execution_ms"].to_numpy(dtype=np.float64)), 0.5)
    want_response = hist_quantile(latency_hist(firsts["latency_ms"].to_numpy(dtype=np.float64)), 0.5)
    assert rest["executionTime"] == pytest.approx(want_execution, rel=1e-12)
    assert rest["responseTime"] == pytest.approx(want_response, rel=1e-12)
    assert rest["executionTime"] < rest["responseTime"], "execution is the model call, not the whole answer"


def test_a_bad_request_id_is_refused_naming_the_header(server: LiveServer) -> None:
    owner = f"olga-{uuid.uuid4().hex[:6]}"
    deployment = server.deploy(owner=owner)
    rows = server.rows_frame(1).assign(ts=H.isoformat())
    with server.client(server.token(owner)) as client:
        for bad in ("x" * 129, "has space"):
            response = client.post(
                f"/predApi/v1.0/deployments/{deployment.id}/predictions",
                params={"timestampColumn": "ts"},
                content=rows.to_json(orient="records"),
                headers={"Content-Type": "application/json", "X-Request-Id": bad},
            )
            assert response.status_code == 422, response.text
            detail = response.json()["detail"]
            assert "X-Request-Id" in detail and "1-128 visible ASCII characters" in detail
        longest = _post(client, deployment.id, rows, request_id="y" * 128)
    assert longest.headers["X-Request-Id"] == "y" * 128
