"""Bias and fairness over real HTTP: the settings (ours and DataRobot's client), the audit, the reads.

Rows go through the prediction route with event times and association ids, actuals
through ``actuals/fromJSON/``; after the fold joins them, ``fairnessScoresOverTime/``
is checked against a direct computation on the route's answers, and DataRobot's
client reads the same numbers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import datarobot as dr
import httpx
import pandas as pd
import pytest
from monitoring_traffic import TARGET, D, H, deploy_with_association, fold, score

from airflow_mlops.deployments import Deployment
from airflow_mlops.deployments.audit import audit_log

if TYPE_CHECKING:
    from conftest import LiveServer

FEATURE = "contract"


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    name = f"fair-{uuid.uuid4().hex[:8]}"
    token = server.token(name)
    dr.Client(token=token, endpoint=f"{server.url}/api/v2")
    with server.client(token) as client:
        yield name, client


def _patch(client: httpx.Client, deployment: Deployment, body: dict[str, object]) -> httpx.Response:
    return client.patch(f"{D}/{deployment.id}/settings/", json={"biasAndFairness": body})


def test_settings_are_validated_stored_and_audited(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    deployment = deploy_with_association(server, name, server.models.churn_v1, TARGET)
    good = {
        "protectedFeatures": [FEATURE],
        "preferableTargetValue": "0",
        "fairnessMetricsSet": "trueFavorableAndUnfavorableRateParity",
        "fairnessThreshold": 0.75,
    }
    bad_metric = _patch(client, deployment, {**good, "fairnessMetricsSet": "fairest"})
    assert bad_metric.status_code == 422
    assert "fairness_metrics_set" in bad_metric.text or "fairnessMetricsSet" in bad_metric.text
    assert "'fairest'" in bad_metric.text and "proportionalParity" in bad_metric.text
    bad_feature = _patch(client, deployment, {**good, "protectedFeatures": ["shoe_size"]})
    assert bad_feature.status_code == 422
    assert "protected_features: ['shoe_size'] are not features of the model" in bad_feature.text
    assert FEATURE in bad_feature.text
    bad_class = _patch(client, deployment, {**good, "preferableTargetValue": "maybe"})
    assert bad_class.status_code == 422
    assert "'maybe' is not a class of the model" in bad_class.text and "'1'" in bad_class.text
    bad_threshold = _patch(client, deployment, {**good, "fairnessThreshold": 1.5})
    assert bad_threshold.status_code == 422 and "1.5" in bad_threshold.text

    done = _patch(client, deployment, good)
    assert done.status_code == 202, done.text
    shown = client.get(f"{D}/{deployment.id}/settings/").json()["biasAndFairness"]
    assert {k: shown[k] for k in good} == good
    last = audit_log(deployment.id, store_url=server.settings.store_url)[-1]
    assert last["action"] == "settings" and last["actor"] == name
    assert last["before"]["settings"]["bias_and_fairness"]["protected_features"] == []
    assert last["after"]["settings"]["bias_and_fairness"]["fairness_threshold"] == 0.75

    # DataRobot's client reads and writes the same section (its path has a doubled slash)
    theirs = dr.Deployment.get(deployment.id)
    assert theirs.get_bias_and_fairness_settings()["fairness_metrics_set"] == good["fairnessMetricsSet"]
    theirs.update_bias_and_fairness_settings([FEATURE], "proportionalParity", 0.8, 1)
    ours = Deployment.get(deployment.id, store_url=server.settings.store_url).get_bias_and_fairness_settings()
    assert ours is not None
    assert (ours["fairness_metrics_set"], ours["preferable_target_value"]) == ("proportionalParity", 1)


def test_fairness_scores_over_http_equal_a_direct_computation(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    deployment = deploy_with_association(server, name, server.models.churn_v1, TARGET)
    deployment.update_bias_and_fairness_settings(
        [FEATURE], "proportionalParity", 0.8, "1", min_group_rows=1, actor=name
    )
    rows = server.models.train[server.models.features].iloc[:90].copy()
    rows["row_key"] = [f"r{i}" for i in range(len(rows))]
    rows["ts"] = [(H + timedelta(hours=i % 2, minutes=7)).isoformat() for i in range(len(rows))]
    answers = score(client, deployment, rows)
    fold(server, deployment)
    p = [next(v["value"] for v in a["predictionValues"] if str(v["label"]) == "1") for a in answers]
    frame = rows.assign(p=p, hour=[i % 2 for i in range(len(rows))])

    params = {
        "start": H.isoformat(),
        "end": (H + timedelta(hours=2)).isoformat(),
        "bucketSize": "PT1H",
        "protectedFeature": FEATURE,
    }
    response = client.get(f"{D}/{deployment.id}/fairnessScoresOverTime/", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["protectedFeature"] == FEATURE and body["fairnessThreshold"] == 0.8
    for bucket, (_hour, group) in zip(body["buckets"], frame.groupby("hour"), strict=True):
        expected = group.groupby(FEATURE)["p"].apply(lambda s: float((s >= 0.5).mean())).to_dict()
        assert {s["label"]: s["absoluteValue"] for s in bucket["scores"]} == pytest.approx(expected)
        top = max(expected.values())
        assert {s["label"]: s["value"] for s in bucket["scores"]} == pytest.approx(
            {k: v / top for k, v in expected.items()}
        )
        assert bucket["passed"] == {s["label"]: s["value"] >= 0.8 for s in bucket["scores"]}
    counts = frame[FEATURE].value_counts().to_dict()
    assert {s["label"]: s["sampleSize"] for s in body["summary"]["scores"]} == counts

    # DataRobot's client parses the same answer (it sends snake_case parameters)
    theirs = dr.Deployment.get(deployment.id).get_fairness_scores_over_time(
        start_time=H, end_time=H + timedelta(hours=2), bucket_size="PT1H", protected_feature=FEATURE
    )
    assert theirs.protected_feature == FEATURE
    assert {s["label"]: s["absolute_value"] for s in theirs.summary["scores"]} == {
        s["label"]: s["absoluteValue"] for s in body["summary"]["scores"]
    }

    # the whole window with every feature, and an unknown metric named back
    window = client.get(
        f"{D}/{deployment.id}/fairness/", params={"start": params["start"], "end": params["end"]}
    )
    assert window.status_code == 200, window.text
    assert window.json()["status"] in {"passing", "warning", "failing", "unknown"}
    assert [f["protectedFeature"] for f in window.json()["features"]] == [FEATURE]
    unknown = client.get(
        f"{D}/{deployment.id}/fairnessScoresOverTime/", params={**params, "fairnessMetric": "luck"}
    )
    assert unknown.status_code == 422 and "'luck'" in unknown.text and "equalParity" in unknown.text
    assert isinstance(pd.Timestamp(body["buckets"][0]["period"]["start"]), pd.Timestamp)
