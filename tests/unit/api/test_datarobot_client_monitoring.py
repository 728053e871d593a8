"""The official ``datarobot`` client's monitoring calls, unchanged, against our server.

Traffic is made as in ``test_api_monitoring.py`` (the real prediction route, then
the fold); every read then goes through ``datarobot`` 3.20 itself — its query
parameters, its trafaret converters, its paging and status polling — and each
value it returns is compared with what our own Python API
(:class:`airflow_mlops.deployments.Deployment`) says for the same deployment and
window.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import datarobot as dr
import httpx
import pandas as pd
import pytest
from datarobot.errors import ClientError
from datarobot.models.deployment import AccuracyOverTime, FeatureDrift
from monitoring_traffic import (
    NUMERIC,
    TARGET,
    D,
    H,
    deploy_with_association,
    drift_baseline,
    fold,
    scored_two_hours,
    send_hours,
)

from airflow_mlops.deployments import Deployment
from airflow_mlops.deployments import FeatureDrift as OurFeatureDrift

if TYPE_CHECKING:
    from conftest import LiveServer

DRIFT_METRICS = ("psi", "kl_divergence", "hellinger", "js_divergence", "dissimilarity")


@dataclass
class Owner:
    name: str
    http: httpx.Client  # only to make traffic and to read what the client does not expose


@pytest.fixture
def owner(server: LiveServer) -> Iterator[Owner]:
    """A user with the official client connected as them (``dr.Client`` is global: set per test)."""
    name = f"drm-{uuid.uuid4().hex[:8]}"
    token = server.token(name)
    dr.Client(token=token, endpoint=f"{server.url}/api/v2")
    with server.client(token) as http:
        yield Owner(name, http)


def _ours(server: LiveServer, deployment: Deployment) -> Deployment:
    """The deployment as our Python API reads it now (settings and model as stored)."""
    return Deployment.get(deployment.id, store_url=server.settings.store_url)


def test_service_stats_and_over_time_equal_our_python_api(server: LiveServer, owner: Owner) -> None:
    deployment = server.deploy(owner=owner.name, baseline=drift_baseline(server).to_dict())
    scored_two_hours(server, owner.http, deployment)
    ours = _ours(server, deployment)
    start, end = H, H + timedelta(hours=3)

    theirs = dr.Deployment.get(deployment.id)
    stats = theirs.get_service_stats(start_time=start, end_time=end)
    want = ours.get_service_stats(None, start, end)
    # Every value our API gives; an unknown (None) one the client cannot take is left out, read as None.
    assert {name: stats[name] for name in want.metrics} == want.metrics
    assert {k: v for k, v in want.metrics.items() if v is not None}.items() <= stats.metrics.items()
    assert stats["totalPredictions"] == 60 and stats["totalRequests"] == 2
    assert (stats.period["start"], stats.period["end"]) == (start, end)
    assert stats.model_id is None and stats.segment_value is None

    quantiles = theirs.get_service_stats(
        start_time=start, end_time=end, execution_time_quantile=0.9, response_time_quantile=0.1
    )
    other = ours.get_service_stats(None, start, end, 0.9, 0.1).metrics
    assert {name: quantiles[name] for name in other} == other

    for metric in ("totalPredictions", "totalRequests", "responseTime", "userErrorRate"):
        over = theirs.get_service_stats_over_time(
            metric=metric, start_time=start, end_time=end, bucket_size="PT1H"
        )
        mine = ours.get_service_stats_over_time(metric, "PT1H", None, start, end)
        assert over.metric == metric
        assert [b["period"]["start"] for b in over.buckets] == [start + timedelta(hours=i) for i in range(3)]
        assert [b["value"] for b in over.buckets] == [b["value"] for b in mine.buckets]
        assert over.summary["value"] == want.metrics[metric]  # the deprecated summary: the window's value
    counts = theirs.get_service_stats_over_time(start_time=start, end_time=end, bucket_size="PT1H")
    assert [b["value"] for b in counts.buckets] == [40, 20, None], "no request in the last hour: no value"


def test_target_and_feature_drift_equal_our_python_api_for_every_metric(
    server: LiveServer, owner: Owner
) -> None:
    deployment = server.deploy(owner=owner.name, baseline=drift_baseline(server).to_dict())
    scored_two_hours(server, owner.http, deployment)
    ours = _ours(server, deployment)
    start, end = H, H + timedelta(hours=2)
    theirs = dr.Deployment.get(deployment.id)

    for metric in DRIFT_METRICS:
        target = theirs.get_target_drift(start_time=start, end_time=end, metric=metric)
        want = ours.get_target_drift(None, start, end, metric)
        assert (target.metric, target.target_name) == (metric, TARGET)
        assert target.drift_score == pytest.approx(want.drift_score, rel=1e-12)
        assert (target.sample_size, target.baseline_sample_size) == (60, want.baseline_sample_size)
        assert target.model_id == want.model_id and target.segment_value is None
        assert target.period == {"start": start, "end": end}

        features = theirs.get_feature_drift(start_time=start, end_time=end, metric=metric)
        listed = FeatureDrift.list(deployment.id, start_time=start, end_time=end, metric=metric)
        mine = OurFeatureDrift.list(
            deployment.id, start_time=start, end_time=end, metric=metric, store_url=server.settings.store_url
        )
        assert [f.name for f in features] == [f.name for f in listed] == [f.name for f in mine]
        assert len(mine) == len(server.models.features)
        for got, also, expected in zip(features, listed, mine, strict=True):
            assert got.metric == metric and got.period == {"start": start, "end": end}
            assert got.drift_score == pytest.approx(expected.drift_score, rel=1e-12)
            assert also.drift_score == got.drift_score
            assert got.feature_impact == expected.feature_impact
            assert (got.sample_size, got.baseline_sample_size) == (
                expected.sample_size,
                expected.baseline_sample_size,
            )
            assert got.model_id == expected.model_id
    by_name = {f.name: f for f in theirs.get_feature_drift(start_time=start, end_time=end)}
    assert by_name[NUMERIC].feature_impact == 1.0 and by_name[NUMERIC].sample_size == 60
    assert by_name[NUMERIC].metric == "psi", "the deployment's drift metric when none is asked for"


def test_feature_drift_pages_link_the_next_page(server: LiveServer, owner: Owner) -> None:
    """The client follows ``next`` until it is null; a short page must link the rest."""
    deployment = server.deploy(owner=owner.name, baseline=drift_baseline(server).to_dict())
    params = {"start": H.isoformat(), "end": (H + timedelta(hours=2)).isoformat(), "limit": 3}
    names: list[str] = []
    url: str | None = f"{D}/{deployment.id}/featureDrift/"
    pages = 0
    while url is not None:
        body = owner.http.get(url, params=params if pages == 0 else None).json()
        names += [f["name"] for f in body["data"]]
        assert body["count"] == len(body["data"]) <= 3
        assert (body["previous"] is None) == (pages == 0)
        url, pages = body["next"], pages + 1
    everything = [f.name for f in dr.Deployment.get(deployment.id).get_feature_drift(start_time=H)]
    assert names == everything and pages == -(-len(everything) // 3)


def _binary_story(server: LiveServer, owner: Owner) -> tuple[Deployment, dict[str, str]]:
    deployment = deploy_with_association(server, owner.name, server.models.churn_v1, TARGET)
    send_hours(server, owner.http, deployment, [0, 0, 0, 0, 1, 1, 1], server.models.features)
    return deployment, {"k0": "1", "k1": "0", "k2": "1", "k3": "0", "k4": "0", "k5": "1"}


def test_submit_actuals_then_accuracy_equal_our_python_api(server: LiveServer, owner: Owner) -> None:
    deployment, actuals = _binary_story(server, owner)
    theirs = dr.Deployment.get(deployment.id)
    # A DataFrame in batches of 4 (two posts, each polled until COMPLETED), then a list.
    frame = pd.DataFrame({"association_id": list(actuals)[:5], "actual_value": list(actuals.values())[:5]})
    frame["was_acted_on"] = [True, None, False, None, None]
    assert theirs.submit_actuals(frame, batch_size=4) is None
    theirs.submit_actuals([{"association_id": "k5", "actual_value": actuals["k5"], "timestamp": H}])
    fold(server, deployment, join=True)
    ours = _ours(server, deployment)
    start, end = H, H + timedelta(hours=3)

    accuracy = theirs.get_accuracy(start_time=start, end_time=end)
    want = ours.get_accuracy(None, start, end)
    assert want.pairs_used == 6 and want.pending_actuals == 0, "every actual the client sent was stored"
    assert [m["metric_name"] for m in accuracy.data] == list(want.metrics)
    for item in accuracy.data:
        name = item["metric_name"]
        assert item["value"] == pytest.approx(want.metrics[name], rel=1e-12, nan_ok=True)
        assert item["baseline_value"] == want.baseline_metrics.get(name)
        assert item["sample_size"] == 6
        # The client's older reading: metrics{name: {value, baseline_value, percent_change}}.
        assert accuracy.metrics[name]["value"] == item["value"]
        assert accuracy[name] == item["value"]
    assert accuracy.period == {"start": start, "end": end}
    auc = theirs.get_accuracy(start_time=start, end_time=end, metric="AUC")
    assert [m["metric_name"] for m in auc.data] == ["AUC"]
    assert auc.data[0]["value"] == pytest.approx(want.metrics["AUC"], rel=1e-12)

    names = ["AUC", "LogLoss", "Accuracy"]
    for name in names:
        over = theirs.get_accuracy_over_time(metric=name, start_time=start, end_time=end, bucket_size="PT1H")
        mine = ours.get_accuracy_over_time(name, "PT1H", None, start, end)
        assert over.metric == name
        assert [b["value"] for b in over.buckets] == pytest.approx([b["value"] for b in mine.buckets])
        assert [b["sample_size"] for b in over.buckets] == [4, 2, 0]
        assert over.baselines[0]["value"] == want.baseline_metrics.get(name)
        assert over.summary["value"] == pytest.approx(want.metrics[name])
    frame = AccuracyOverTime.get_as_dataframe(
        deployment.id, metrics=names, start_time=start, end_time=end, bucket_size="PT1H"
    )
    assert list(frame.columns) == names
    starts = [ts for _model, ts in frame.index]
    assert starts == [start + timedelta(hours=i) for i in range(3)]
    for name in names:
        mine = ours.get_accuracy_over_time(name, "PT1H", None, start, end)
        assert list(frame[name].iloc[:2]) == pytest.approx([b["value"] for b in mine.buckets[:2]])
        assert pd.isna(frame[name].iloc[2]), "no actual in the last hour: no value"


def test_predictions_vs_actuals_over_time_equal_our_python_api(server: LiveServer, owner: Owner) -> None:
    deployment, actuals = _binary_story(server, owner)
    theirs = dr.Deployment.get(deployment.id)
    theirs.submit_actuals([{"association_id": k, "actual_value": v} for k, v in actuals.items()])
    fold(server, deployment, join=True)
    start, end = H, H + timedelta(hours=3)

    got = theirs.get_predictions_vs_actuals_over_time(start_time=start, end_time=end, bucket_size="PT1H")
    mine = _ours(server, deployment).get_predictions_vs_actuals_over_time("PT1H", None, start, end)
    assert [b["period"]["start"] for b in got.buckets] == [start + timedelta(hours=i) for i in range(3)]
    assert (
        [b["row_count_total"] for b in got.buckets] == [b["rowCountTotal"] for b in mine.buckets] == [4, 3, 0]
    )
    assert [b["row_count_with_actual"] for b in got.buckets] == [4, 2, 0]
    for bucket, expected in zip(got.buckets, mine.buckets, strict=True):
        assert bucket["mean_predicted_value"] == expected["meanPredictedValue"]
        assert bucket["mean_actual_value"] == expected["meanActualValue"]
        assert bucket["actual_class_distribution"] == [
            {"class_name": c["className"], "count": c["count"]} for c in expected["actualClassDistribution"]
        ]
    assert got.summary == {"row_count_total": 7, "row_count_with_actual": 6}
    assert got.baselines == []


def test_regression_accuracy_equals_our_python_api(server: LiveServer, owner: Owner) -> None:
    deployment = deploy_with_association(server, owner.name, server.models.charges, NUMERIC)
    features = [c for c in server.models.features if c != NUMERIC]
    send_hours(server, owner.http, deployment, [0, 0, 1], features)
    theirs = dr.Deployment.get(deployment.id)
    theirs.submit_actuals([{"association_id": k, "actual_value": v} for k, v in (("k0", 10.0), ("k2", 70.5))])
    fold(server, deployment, join=True)
    want = _ours(server, deployment).get_accuracy(None, H, H + timedelta(hours=2))

    accuracy = theirs.get_accuracy(start_time=H, end_time=H + timedelta(hours=2))
    got = {m["metric_name"]: m["value"] for m in accuracy.data}
    assert "RMSE" in got and set(got) == set(want.metrics)
    for name, value in want.metrics.items():
        assert got[name] == pytest.approx(value, rel=1e-12, nan_ok=True)
    rmse = theirs.get_accuracy_over_time(
        metric="RMSE", start_time=H, end_time=H + timedelta(hours=2), bucket_size="PT1H"
    )
    assert [b["sample_size"] for b in rmse.buckets] == [1, 1]


def test_actuals_status_answers_completed_with_our_counts(server: LiveServer, owner: Owner) -> None:
    deployment = server.deploy(owner=owner.name)
    sent = owner.http.post(
        f"{D}/{deployment.id}/actuals/fromJSON/",
        json={
            "data": [{"associationId": "x1", "actualValue": "1"}, {"associationId": "x2", "actualValue": 0}]
        },
    )
    assert sent.status_code == 202, sent.text
    counts = {
        "received": 2,
        "stored": 2,
        "replaced": 0,
        "ignoredAlreadyJoined": 0,
        "unknownAssociationIds": 2,
    }
    assert sent.json() == counts
    status = owner.http.get(sent.headers["Location"], follow_redirects=False)
    assert status.status_code == 200 and status.json() == {"status": "COMPLETED", **counts}


def test_what_we_do_not_keep_is_a_422_naming_it(server: LiveServer, owner: Owner) -> None:
    deployment = server.deploy(owner=owner.name, baseline=drift_baseline(server).to_dict())
    theirs = dr.Deployment.get(deployment.id)
    calls = {
        "segmentAttribute": lambda: theirs.get_service_stats(segment_attribute="country", segment_value="FR"),
        "segmentValue": lambda: theirs.get_feature_drift(segment_value="FR"),
        "targetClass": lambda: theirs.get_accuracy(target_classes=["1"]),
        "baselineModelId": lambda: theirs.get_accuracy(baseline_model_id="other"),
        "modelId": lambda: theirs.get_accuracy_over_time(model_id=["churn/1", "churn/2"]),
        "threshold": lambda: theirs.get_service_stats_over_time(metric="slowRequests", threshold=50),
        "slowRequestsThreshold": lambda: theirs.get_service_stats(slow_requests_threshold=50),
        "metric": lambda: theirs.get_accuracy(metric="RMSE"),  # a regression metric on a binary model
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.status_code == 422, name
        assert f"{name}=" in raised.value.json["message"], raised.value.json
    # DataRobot's default slow-request threshold is ours: allowed.
    assert theirs.get_service_stats(slow_requests_threshold=1000)["slowRequests"] == 0
