"""``humilityStatsOverTime/`` over real HTTP: the flags the prediction route answered, counted per bucket.

A regression deployment scores rows with warnings off, then on (custom boundaries
around the median prediction, so some rows are flagged and some not); after the
fold each bucket must hold exactly the flags the answers carried, and the rows
scored with warnings off must count nowhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest

from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.fold import fold_new_predictions

if TYPE_CHECKING:
    from conftest import LiveServer

D = "/api/v2/deployments"
H = datetime(2024, 3, 1, 10, tzinfo=UTC)
TARGET = "monthly_charges"


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    name = f"hugo-{uuid.uuid4().hex[:8]}"
    with server.client(server.token(name)) as client:
        yield name, client


def _predict(
    server: LiveServer, client: httpx.Client, deployment: Deployment, first: int, n: int, at: datetime
) -> list[dict[str, Any]]:
    features = [c for c in server.models.features if c != TARGET]
    rows = server.models.train[features].iloc[first : first + n].assign(ts=at.isoformat())
    response = client.post(
        f"/predApi/v1.0/deployments/{deployment.id}/predictions",
        params={"timestampColumn": "ts"},
        content=rows.to_json(orient="records"),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_each_bucket_counts_the_flags_the_route_answered(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    deployment = server.deploy(server.models.charges, owner=name)
    unwarned = _predict(server, client, deployment, 0, 10, H + timedelta(minutes=1))
    assert "predictionWarning" not in unwarned[0]
    median = float(np.median([r["prediction"] for r in unwarned]))
    deployment.update_prediction_warning_settings(True, lower_boundary=median, upper_boundary=median + 1e9)
    server.app.state.model_cache.refresh()  # what the server's watcher does every few seconds

    first = _predict(server, client, deployment, 10, 30, H + timedelta(minutes=20))
    second = _predict(server, client, deployment, 40, 12, H + timedelta(hours=1, minutes=5))
    server.app.state.prediction_log.flush()
    fold_new_predictions(
        deployment.id, store_url=server.settings.store_url, log_root=server.settings.prediction_log_dir
    )

    def flagged(answers: list[dict[str, Any]]) -> int:
        return sum(bool(r["predictionWarning"]["isOutlierPrediction"]) for r in answers)

    assert 0 < flagged(first) < len(first), "the boundaries must split the rows for the test to mean anything"
    response = client.get(
        f"{D}/{deployment.id}/humilityStatsOverTime/",
        params={"start": H.isoformat(), "end": (H + timedelta(hours=3)).isoformat(), "bucketSize": "PT1H"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["bucketSize"], body["modelId"], body["predictionWarningEnabled"]) == ("PT1H", None, True)
    assert body["period"] == {"start": H.isoformat(), "end": (H + timedelta(hours=3)).isoformat()}
    buckets = body["buckets"]
    assert [b["period"]["start"] for b in buckets] == [(H + timedelta(hours=i)).isoformat() for i in range(3)]
    assert [b["rowCount"] for b in buckets] == [30, 12, 0], "rows scored with warnings off count nowhere"
    assert [b["outlierPredictions"] for b in buckets] == [flagged(first), flagged(second), 0]
    assert buckets[0]["value"] == pytest.approx(flagged(first) / 30)
    assert buckets[1]["value"] == pytest.approx(flagged(second) / 12)
    assert buckets[2]["value"] is None, "no row checked: unknown, not 'no outliers'"

    # A classification deployment has no warnings: every bucket unknown, and the answer says why.
    churn = server.deploy(owner=name)
    other = client.get(f"{D}/{churn.id}/humilityStatsOverTime/").json()
    assert other["predictionWarningEnabled"] is False
    assert (other["bucketSize"], len(other["buckets"])) == ("P1D", 7)
    assert {b["value"] for b in other["buckets"]} == {None}
