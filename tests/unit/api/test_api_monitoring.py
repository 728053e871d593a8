"""The console's drift reads over real HTTP: ``featureHistogram/`` and ``featureDriftOverTime/``.

Predictions go through the prediction route (with their event times), the monitoring
fold turns them into hourly counts, and each answer is checked against a direct
computation on the rows that were sent: the baseline's bins counting them, and the
drift metric on those counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from monitoring_traffic import CATEGORY, NUMERIC, TARGET, D, H, drift_baseline, scored_two_hours

from airflow_mlops.monitoring import drift_score, share_groups

if TYPE_CHECKING:
    from conftest import LiveServer


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    name = f"mona-{uuid.uuid4().hex[:8]}"
    with server.client(server.token(name)) as client:
        yield name, client


def test_feature_histogram_is_the_baseline_and_the_window_on_the_baseline_bins(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    baseline = drift_baseline(server)
    deployment = server.deploy(owner=name, baseline=baseline.to_dict())
    rows = scored_two_hours(server, client, deployment)

    for feature in (NUMERIC, CATEGORY):
        response = client.get(
            f"{D}/{deployment.id}/featureHistogram/",
            params={
                "featureName": feature,
                "start": H.isoformat(),
                "end": (H + timedelta(hours=2)).isoformat(),
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        bins = baseline.bins(feature)
        want_window = [int(c) for c in bins.count(rows[feature])]
        want_baseline = baseline.baseline_counts[feature]
        assert body["featureName"] == feature and body["modelId"] == "1"
        assert body["featureType"] == bins.kind
        assert body["period"] == {"start": H.isoformat(), "end": (H + timedelta(hours=2)).isoformat()}
        assert [b["label"] for b in body["bins"]] == bins.labels
        assert [b["baselineCount"] for b in body["bins"]] == want_baseline
        assert [b["windowCount"] for b in body["bins"]] == want_window
        assert (body["sampleSize"], body["baselineSampleSize"]) == (60, sum(want_baseline))
        for b, base, win in zip(body["bins"], want_baseline, want_window, strict=True):
            assert b["baseline"] == pytest.approx(base / sum(want_baseline))
            assert b["window"] == pytest.approx(win / 60)

    # The shift moved rows into the top decile's bins: the histogram shows what drift measures.
    shifted = client.get(
        f"{D}/{deployment.id}/featureHistogram/",
        params={"featureName": NUMERIC, "start": H.isoformat(), "end": (H + timedelta(hours=1)).isoformat()},
    ).json()["bins"]
    numeric = baseline.bins(NUMERIC)
    groups = share_groups(numeric, baseline.baseline_counts[NUMERIC])
    top = [b for b, group in zip(shifted, groups, strict=True) if group == groups.max()]
    assert sum(b["window"] for b in top) > 2 * sum(b["baseline"] for b in top)

    # The target's name gives the predictions' histogram, on the baseline's prediction bins.
    target = client.get(
        f"{D}/{deployment.id}/featureHistogram/",
        params={"featureName": TARGET, "start": H.isoformat(), "end": (H + timedelta(hours=2)).isoformat()},
    ).json()
    assert baseline.prediction is not None
    assert [b["label"] for b in target["bins"]] == baseline.prediction.labels
    assert target["sampleSize"] == 60 and sum(b["windowCount"] for b in target["bins"]) == 60

    empty = client.get(
        f"{D}/{deployment.id}/featureHistogram/",
        params={"featureName": NUMERIC, "start": (H - timedelta(hours=2)).isoformat(), "end": H.isoformat()},
    ).json()
    assert empty["sampleSize"] == 0
    assert {b["window"] for b in empty["bins"]} == {None}, "an empty window has no shares, not zeros"
    assert {b["windowCount"] for b in empty["bins"]} == {0}


def test_feature_drift_over_time_scores_each_bucket_as_the_window_read_does(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    baseline = drift_baseline(server)
    deployment = server.deploy(owner=name, baseline=baseline.to_dict())
    rows = scored_two_hours(server, client, deployment)
    end = H + timedelta(hours=3)

    response = client.get(
        f"{D}/{deployment.id}/featureDriftOverTime/",
        params={
            "featureName": NUMERIC,
            "start": H.isoformat(),
            "end": end.isoformat(),
            "bucketSize": "PT1H",
            "metric": "hellinger",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["featureName"], body["metric"], body["bucketSize"]) == (NUMERIC, "hellinger", "PT1H")
    assert [b["period"]["start"] for b in body["buckets"]] == [
        (H + timedelta(hours=i)).isoformat() for i in range(3)
    ]
    assert [b["sampleSize"] for b in body["buckets"]] == [40, 20, 0]
    hours = [rows.iloc[:40], rows.iloc[40:]]
    for bucket, hour in zip(body["buckets"], hours, strict=False):
        bins = baseline.bins(NUMERIC)
        want = drift_score("hellinger", baseline.baseline_counts[NUMERIC], bins.count(hour[NUMERIC]), bins)
        assert bucket["driftScore"] == pytest.approx(want, rel=1e-12)
    assert body["buckets"][2]["driftScore"] is None, "no rows: no score, not 'no drift'"
    assert body["buckets"][0]["driftScore"] > body["buckets"][1]["driftScore"], "the shifted hour drifts more"

    # A bucket's score is the window read's score over that bucket.
    window = client.get(
        f"{D}/{deployment.id}/featureDrift/",
        params={"start": H.isoformat(), "end": (H + timedelta(hours=1)).isoformat(), "metric": "hellinger"},
    ).json()["data"]
    (same,) = [f for f in window if f["name"] == NUMERIC]
    assert same["driftScore"] == pytest.approx(body["buckets"][0]["driftScore"], rel=1e-12)

    # The default: the deployment's drift metric, daily buckets over the last 7 days.
    default = client.get(
        f"{D}/{deployment.id}/featureDriftOverTime/", params={"featureName": CATEGORY}
    ).json()
    assert (default["metric"], default["bucketSize"], len(default["buckets"])) == ("psi", "P1D", 7)


def test_bad_arguments_are_422_naming_the_value(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    deployment = server.deploy(owner=name, baseline=drift_baseline(server).to_dict())
    bare = server.deploy(owner=name)  # deployed without training data: no baseline

    def detail(route: str, deployment_id: str, **params: str) -> str:
        response = client.get(f"{D}/{deployment_id}/{route}/", params=params)
        assert response.status_code == 422, response.text
        return str(response.json()["detail"])

    for route in ("featureHistogram", "featureDriftOverTime"):
        assert "featureName" in detail(route, deployment.id)
        said = detail(route, deployment.id, featureName="colour")
        assert "'colour' is not in the baseline" in said and NUMERIC in said
        assert "no monitoring baseline" in detail(route, bare.id, featureName=NUMERIC)
        assert "top of an hour" in detail(
            route, deployment.id, featureName=NUMERIC, start="2024-03-01T10:30:00"
        )
    assert "'P2D'" in detail("featureDriftOverTime", deployment.id, featureName=NUMERIC, bucketSize="P2D")
    assert "'chi2'" in detail("featureDriftOverTime", deployment.id, featureName=NUMERIC, metric="chi2")


def test_target_drift_over_time_is_the_predictions_drift_per_bucket(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    """``targetDriftOverTime/`` and ``featureDriftOverTime/?featureName=<target>`` answer the Python read."""
    from airflow_mlops.deployments import Deployment
    from airflow_mlops.prediction_log import list_log_files, read_log_files

    name, client = owner
    baseline = drift_baseline(server)
    deployment = server.deploy(owner=name, baseline=baseline.to_dict())
    scored_two_hours(server, client, deployment)
    window = {
        "start": H.isoformat(),
        "end": (H + timedelta(hours=3)).isoformat(),
        "bucketSize": "PT1H",
        "metric": "js_divergence",
    }

    response = client.get(f"{D}/{deployment.id}/targetDriftOverTime/", params=window)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["targetName"], body["featureName"], body["metric"]) == (TARGET, TARGET, "js_divergence")
    assert [b["sampleSize"] for b in body["buckets"]] == [40, 20, 0]
    by_name = client.get(
        f"{D}/{deployment.id}/featureDriftOverTime/", params={**window, "featureName": TARGET}
    ).json()
    assert {k: v for k, v in body.items() if k != "targetName"} == by_name

    ours = Deployment.get(deployment.id).get_drift_over_time(
        TARGET, "js_divergence", "PT1H", None, window["start"], window["end"]
    )
    assert [b["driftScore"] for b in body["buckets"]] == [b["value"] for b in ours.buckets]
    # Each hour's score is the metric on the baseline's prediction bins counting what the server logged.
    logged = read_log_files(list_log_files(server.settings.prediction_log_dir, deployment.id))
    hours = logged["timestamp"].dt.floor("h")
    assert baseline.prediction is not None
    for bucket, hour in zip(body["buckets"][:2], (H, H + timedelta(hours=1)), strict=True):
        predictions = logged.loc[hours == hour, "prediction"].astype(float)
        counts = baseline.bins(TARGET).count(predictions)
        want = drift_score(
            "js_divergence", baseline.baseline_counts[TARGET], counts, bins=baseline.bins(TARGET)
        )
        assert bucket["driftScore"] == pytest.approx(want, rel=1e-12)
    assert body["buckets"][2]["driftScore"] is None

    bare = server.deploy(owner=name)  # no baseline: nothing to compare the predictions with
    refused = client.get(f"{D}/{bare.id}/targetDriftOverTime/")
    assert refused.status_code == 422 and "no monitoring baseline" in refused.json()["detail"]
    assert (
        "'P2D'"
        in client.get(f"{D}/{deployment.id}/targetDriftOverTime/", params={"bucketSize": "P2D"}).json()[
            "detail"
        ]
    )
