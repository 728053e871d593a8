"""``predictionsVsActualsOverTime/`` over real HTTP, against the predictions the route answered.

Rows go through the prediction route with event times and association ids, actuals
through ``actuals/fromJSON/``; after the fold joins them, each bucket is checked
against a direct computation on the answers and the actuals that were sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
from monitoring_traffic import D, H, deploy_with_association, send_hours

from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.fold import join_actuals

if TYPE_CHECKING:
    from conftest import LiveServer


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    name = f"pia-{uuid.uuid4().hex[:8]}"
    with server.client(server.token(name)) as client:
        yield name, client


def _over_time(client: httpx.Client, deployment: Deployment) -> dict[str, Any]:
    response = client.get(
        f"{D}/{deployment.id}/predictionsVsActualsOverTime/",
        params={"start": H.isoformat(), "end": (H + timedelta(hours=3)).isoformat(), "bucketSize": "PT1H"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_regression_buckets_are_the_means_of_the_joined_rows(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    target = "monthly_charges"
    deployment = deploy_with_association(server, name, server.models.charges, target)
    features = [c for c in server.models.features if c != target]
    answers = send_hours(server, client, deployment, [0, 0, 0, 1, 1], features)
    actuals = {"k0": 10.0, "k1": 30.0, "k3": 7.5}  # k2 and k4 still wait for theirs
    sent = client.post(
        f"{D}/{deployment.id}/actuals/fromJSON/",
        json={"data": [{"associationId": k, "actualValue": v} for k, v in actuals.items()]},
    )
    assert sent.status_code == 202, sent.text
    join_actuals(deployment.id, store_url=server.settings.store_url)

    body = _over_time(client, deployment)
    # DataRobot's keys only (the official client refuses others); the window is the buckets'.
    assert set(body) == {"summary", "baselines", "buckets", "segmentValue"}
    assert body["summary"] == {"rowCountTotal": 5, "rowCountWithActual": 3}
    buckets = body["buckets"]
    assert {b["modelId"] for b in buckets} == {None}, "every model version's rows"
    assert buckets[-1]["period"]["end"] == (H + timedelta(hours=3)).isoformat()
    assert [b["period"]["start"] for b in buckets] == [(H + timedelta(hours=i)).isoformat() for i in range(3)]
    assert [b["rowCountTotal"] for b in buckets] == [3, 2, 0]
    assert [b["rowCountWithActual"] for b in buckets] == [2, 1, 0]
    predicted = {a["associationId"]: float(a["prediction"]) for a in answers}
    assert buckets[0]["meanPredictedValue"] == pytest.approx(np.mean([predicted["k0"], predicted["k1"]]))
    assert buckets[0]["meanActualValue"] == pytest.approx(20.0)
    assert buckets[1]["meanPredictedValue"] == pytest.approx(predicted["k3"])
    assert buckets[1]["meanActualValue"] == pytest.approx(7.5)
    assert (buckets[2]["meanPredictedValue"], buckets[2]["meanActualValue"]) == (None, None)
    assert "predictedClassDistribution" not in buckets[0], "a regression has no classes"

    # The default window: daily buckets over the last 7 days.
    default = client.get(f"{D}/{deployment.id}/predictionsVsActualsOverTime/").json()
    assert len(default["buckets"]) == 7
    assert all(
        b["period"]["end"] == c["period"]["start"]
        for b, c in zip(default["buckets"], default["buckets"][1:], strict=False)
    )


def test_binary_buckets_count_each_class(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    deployment = deploy_with_association(server, name, server.models.churn_v1, "churned")
    answers = send_hours(server, client, deployment, [0, 0, 0, 0], server.models.features)
    actual = {"k0": "1", "k1": "0", "k2": "1"}
    deployment.submit_actuals([{"association_id": k, "actual_value": v} for k, v in actual.items()])
    join_actuals(deployment.id, store_url=server.settings.store_url)

    first = _over_time(client, deployment)["buckets"][0]
    joined = [a for a in answers if a["associationId"] in actual]
    # The positive class's probability, as the log holds it (the route answers each class's).
    p = [next(v["value"] for v in a["predictionValues"] if str(v["label"]) == "1") for a in joined]
    called = ["1" if x >= 0.5 else "0" for x in p]
    assert (first["rowCountTotal"], first["rowCountWithActual"]) == (4, 3)
    assert first["meanPredictedValue"] == pytest.approx(np.mean(p))
    assert first["meanActualValue"] == pytest.approx(2 / 3)
    assert first["actualClassDistribution"] == [
        {"className": "0", "count": 1},
        {"className": "1", "count": 2},
    ]
    assert first["predictedClassDistribution"] == [
        {"className": c, "count": called.count(c)} for c in sorted(set(called))
    ]


def test_bad_arguments_are_422(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    deployment = server.deploy(owner=name)
    route = f"{D}/{deployment.id}/predictionsVsActualsOverTime/"
    bad = client.get(route, params={"bucketSize": "P2D"})
    assert bad.status_code == 422 and "'P2D'" in bad.json()["detail"]
    late = client.get(route, params={"start": "2024-03-01T10:30:00"})
    assert late.status_code == 422 and "top of an hour" in late.json()["detail"]
