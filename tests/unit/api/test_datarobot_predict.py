"""``datarobot-predict`` 1.13 unchanged against our prediction route, through the deployment's own URL.

``datarobot_predict.deployment.predict(deployment, frame)`` reads
``defaultPredictionServer.url`` from the deployment the official client fetched,
posts the frame as CSV with ``Accept: text/csv`` and parses the CSV it gets back
by DataRobot's column names. Each answer is compared with our JSON answer for
the same rows.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import datarobot as dr
import httpx
import pandas as pd
import pytest
from datarobot.errors import ClientError
from datarobot_predict import deployment as drp

if TYPE_CHECKING:
    from conftest import LiveServer


@dataclass
class Owner:
    name: str
    http: httpx.Client


@pytest.fixture
def owner(server: LiveServer) -> Iterator[Owner]:
    """The official client connected as a fresh user; datarobot-predict's cached session dropped."""
    name = f"drp-{uuid.uuid4().hex[:8]}"
    token = server.token(name)
    dr.Client(token=token, endpoint=f"{server.url}/api/v2")
    drp.clear_context()  # it keeps the first client's session (URL and token) per context
    with server.client(token) as http:
        yield Owner(name, http)
    drp.clear_context()


def _json(owner: Owner, deployment_id: str, frame: pd.DataFrame, **params: Any) -> list[dict[str, Any]]:
    response = owner.http.post(
        f"/predApi/v1.0/deployments/{deployment_id}/predictions",
        content=frame.to_json(orient="records"),
        headers={"Content-Type": "application/json"},
        params=params,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json"), "JSON stays the default"
    return list(response.json()["data"])


def test_binary_predictions_are_datarobots_csv_and_equal_our_json(server: LiveServer, owner: Owner) -> None:
    deployment = server.deploy(server.models.churn_v1, owner=owner.name)
    frame = server.rows_frame(6).assign(customer=[f"c{i}" for i in range(6)])

    result = drp.predict(dr.Deployment.get(deployment.id), frame, passthrough_columns={"customer"})
    got = result.dataframe
    assert list(got.columns) == [
        "churned_1_PREDICTION",
        "churned_0_PREDICTION",
        "churned_PREDICTION",
        "THRESHOLD",
        "POSITIVE_CLASS",
        "customer",
    ]
    assert result.response_headers["X-DataRobot-Model-Cache-Hit"] in ("true", "false")
    assert int(result.response_headers["X-DataRobot-Execution-Time"]) >= 0
    assert result.response_headers["X-MLOps-Model-Id"] == server.models.churn_v1, "ours are kept"

    want = _json(owner, deployment.id, frame)
    probability = {str(v["label"]): v["value"] for v in want[0]["predictionValues"]}
    assert set(probability) == {"0", "1"}
    for i, row in enumerate(want):
        values = {str(v["label"]): v["value"] for v in row["predictionValues"]}
        assert got["churned_1_PREDICTION"][i] == pytest.approx(values["1"], rel=1e-15)
        assert got["churned_0_PREDICTION"][i] == pytest.approx(values["0"], rel=1e-15)
        assert str(got["churned_PREDICTION"][i]) == str(row["prediction"])
    assert set(got["THRESHOLD"]) == {0.5} and set(got["POSITIVE_CLASS"].astype(str)) == {"1"}
    assert list(got["customer"]) == list(frame["customer"])
    # The label is the positive class exactly when its probability passes the threshold.
    assert list(got["churned_PREDICTION"].astype(str)) == [
        "1" if p > 0.5 else "0" for p in got["churned_1_PREDICTION"]
    ]
    # The model is in memory now: the next answer says so.
    again = drp.predict(dr.Deployment.get(deployment.id), frame.head(1))
    assert again.response_headers["X-DataRobot-Model-Cache-Hit"] == "true"


def test_regression_predictions_equal_our_json_and_pass_every_column_through(
    server: LiveServer, owner: Owner
) -> None:
    deployment = server.deploy(server.models.charges, owner=owner.name)
    features = [c for c in server.models.features if c != "monthly_charges"]
    frame = server.models.train[features].head(5).reset_index(drop=True)

    got = drp.predict(dr.Deployment.get(deployment.id), frame, passthrough_columns="all").dataframe
    assert list(got.columns) == ["monthly_charges_PREDICTION", *features]
    want = _json(owner, deployment.id, frame)
    assert list(got["monthly_charges_PREDICTION"]) == pytest.approx(
        [r["prediction"] for r in want], rel=1e-15
    )
    # Passed through as sent: the CSV the client posted, read back the way it reads the answer.
    sent = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    pd.testing.assert_frame_equal(got[features], sent)


def test_what_the_prediction_api_cannot_do_is_a_422_naming_it(server: LiveServer, owner: Owner) -> None:
    deployment = server.deploy(server.models.churn_v1, owner=owner.name)
    theirs = dr.Deployment.get(deployment.id)
    frame = server.rows_frame(2)
    with pytest.raises(ClientError) as raised:
        drp.predict(theirs, frame, max_explanations=3, explanation_algorithm="xemp")
    assert raised.value.status_code == 422
    assert "explanationAlgorithm=" in raised.value.json["message"]
    # Thresholds only tune explanations: without maxExplanations they change nothing.
    tuned = drp.predict(theirs, frame, threshold_high=0.9, threshold_low=0.1).dataframe
    plain = drp.predict(theirs, frame).dataframe
    pd.testing.assert_frame_equal(tuned, plain)


def test_datarobots_client_reads_our_explanations(server: LiveServer, owner: Owner) -> None:
    from airflow_mlops.monitoring.model_baseline import build_model_baseline

    baseline = build_model_baseline(server.models.churn_v1, server.models.train).to_dict()
    deployment = server.deploy(server.models.churn_v1, owner=owner.name, baseline=baseline)
    theirs = dr.Deployment.get(deployment.id)
    frame = server.rows_frame(4)
    got = drp.predict(theirs, frame, max_explanations=2, explanation_algorithm="shap").dataframe
    plain = drp.predict(theirs, frame).dataframe
    pd.testing.assert_frame_equal(got[plain.columns], plain)
    for k in (1, 2):
        assert set(got[f"EXPLANATION_{k}_FEATURE_NAME"]) <= set(server.models.features)
        assert got[f"EXPLANATION_{k}_QUALITATIVE_STRENGTH"].str.fullmatch(r"\+{1,3}|-{1,3}").all()
    assert (got["EXPLANATION_1_STRENGTH"].abs() >= got["EXPLANATION_2_STRENGTH"].abs()).all()


def test_a_datarobot_key_header_and_text_plain_csv_are_accepted(server: LiveServer, owner: Owner) -> None:
    """DataRobot's managed cloud needs a per-organization key header; we ignore it. CSV may be text/plain."""
    deployment = server.deploy(server.models.churn_v1, owner=owner.name)
    frame = server.rows_frame(3)
    answer = owner.http.post(
        f"/predApi/v1.0/deployments/{deployment.id}/predictions",
        content=frame.to_csv(index=False),
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "datarobot-key": "any-key",
            "Accept": "text/csv",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.text.splitlines()[0].startswith(
        "churned_1_PREDICTION,churned_0_PREDICTION,churned_PREDICTION"
    )
    want = _json(owner, deployment.id, frame)
    assert len(answer.text.splitlines()) == 1 + len(want)
