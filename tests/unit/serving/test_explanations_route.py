"""Prediction explanations over real HTTP: DataRobot's shape, thresholds, CSV columns, bad values named."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from serving_helpers import Live, serve

from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.model_baseline import build_model_baseline

if TYPE_CHECKING:
    from conftest import RegisteredModels

KEYS = {"label", "feature", "featureValue", "strength", "qualitativeStrength"}


def _deploy(models: RegisteredModels, model_id: str, label: str) -> Deployment:
    """A deployment whose baseline keeps training rows: the explainers' background."""
    baseline = build_model_baseline(model_id, models.train).to_dict()
    assert baseline["sample"]
    return Deployment.create_from_registered_model_version(model_id, label, baseline=baseline)


@pytest.fixture
def linear(models: RegisteredModels) -> Iterator[Live]:
    with serve(_deploy(models, models.churn_v1, "explained")) as server:
        yield server


def _rows(n: int) -> pd.DataFrame:
    return make_churn(n, seed=21).drop(columns=["customer_id", "event_time", "churned"])


def _json(frame: pd.DataFrame) -> str:
    return str(frame.to_json(orient="records"))


def _positive(row: dict[str, Any]) -> float:
    return float(next(v["value"] for v in row["predictionValues"] if v["label"] == 1))


def test_rows_get_their_top_explanations_in_datarobots_shape(linear: Live, models: RegisteredModels) -> None:
    frame = _rows(12)
    response = linear.predict(_json(frame), maxExplanations=3)
    assert response.status_code == 200, response.text
    for i, row in enumerate(response.json()["data"]):
        explanations = row["predictionExplanations"]
        assert len(explanations) == 3
        assert all(set(e) == KEYS for e in explanations)
        assert {e["label"] for e in explanations} == {1}  # the positive class
        strengths = [abs(e["strength"]) for e in explanations]
        assert strengths == sorted(strengths, reverse=True)
        for e in explanations:
            assert e["feature"] in models.features
            sent = frame[e["feature"]].iloc[i]
            if pd.isna(sent):
                assert e["featureValue"] is None
            else:
                assert e["featureValue"] == (sent.item() if hasattr(sent, "item") else sent)
            sign = "-" if e["strength"] < 0 else "+"
            assert e["qualitativeStrength"] in (sign, sign * 2, sign * 3)
        assert explanations[0]["qualitativeStrength"] in ("+++", "---")  # the strongest is its own largest


def test_all_contributions_follow_the_served_log_odds(linear: Live, models: RegisteredModels) -> None:
    """Linear: strengths sum to log-odds minus one base value, so row differences match the answers'."""
    frame = _rows(8)
    data = linear.predict(_json(frame), maxExplanations=100).json()["data"]
    totals = np.array([sum(e["strength"] for e in row["predictionExplanations"]) for row in data])
    assert all(len(row["predictionExplanations"]) == len(models.features) for row in data)
    p = np.array([_positive(row) for row in data])
    log_odds = np.log(p / (1 - p))
    np.testing.assert_allclose(totals - totals[0], log_odds - log_odds[0], atol=1e-8)


def test_without_max_explanations_the_answer_is_unchanged(linear: Live) -> None:
    body = _json(_rows(5))
    plain = linear.predict(body)
    zero = linear.predict(body, maxExplanations=0)
    assert plain.status_code == zero.status_code == 200
    assert plain.content == zero.content
    assert all("predictionExplanations" not in row for row in plain.json()["data"])


def test_thresholds_explain_only_rows_above_high_or_below_low(linear: Live) -> None:
    frame = _rows(40)
    data = linear.predict(_json(frame)).json()["data"]
    p = np.array([_positive(row) for row in data])
    high, low = float(np.quantile(p, 0.75)), float(np.quantile(p, 0.25))
    for params, chosen in (
        ({"thresholdHigh": high}, p > high),
        ({"thresholdLow": low}, p < low),
        ({"thresholdHigh": high, "thresholdLow": low}, (p > high) | (p < low)),
    ):
        answered = linear.predict(_json(frame), maxExplanations=2, **params).json()["data"]
        explained = np.array([len(row["predictionExplanations"]) == 2 for row in answered])
        empty = np.array([row["predictionExplanations"] == [] for row in answered])
        np.testing.assert_array_equal(explained, chosen)
        np.testing.assert_array_equal(empty, ~chosen)
        assert 0 < chosen.sum() < len(frame)


def test_csv_answers_carry_datarobots_explanation_columns(linear: Live) -> None:
    frame = _rows(4)
    response = linear.client.post(
        f"/predApi/v1.0/deployments/{linear.deployment.id}/predictions",
        content=_json(frame),
        headers={"Content-Type": "application/json", "Accept": "text/csv"},
        params={"maxExplanations": 2},
    )
    assert response.status_code == 200, response.text
    header = response.text.splitlines()[0].split(",")
    for k in (1, 2):
        for field in ("FEATURE_NAME", "STRENGTH", "ACTUAL_VALUE", "QUALITATIVE_STRENGTH"):
            assert f"EXPLANATION_{k}_{field}" in header
    assert "EXPLANATION_3_FEATURE_NAME" not in header
    as_json = linear.predict(_json(frame), maxExplanations=2).json()["data"]
    got = pd.read_csv(io.StringIO(response.text))
    assert list(got["EXPLANATION_1_FEATURE_NAME"]) == [
        r["predictionExplanations"][0]["feature"] for r in as_json
    ]
    np.testing.assert_allclose(
        got["EXPLANATION_2_STRENGTH"], [r["predictionExplanations"][1]["strength"] for r in as_json]
    )


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"maxExplanations": "many"}, "maxExplanations='many'"),
        ({"maxExplanations": "-1"}, "maxExplanations='-1'"),
        ({"maxExplanations": "101"}, "maxExplanations='101'"),
        ({"maxExplanations": "²"}, "maxExplanations='²'"),
        ({"maxExplanations": "2", "thresholdHigh": "nan"}, "thresholdHigh=nan"),
        ({"maxExplanations": "2", "thresholdLow": "low"}, "thresholdLow"),
        ({"maxExplanations": "2", "explanationAlgorithm": "xemp"}, "explanationAlgorithm='xemp'"),
    ],
)
def test_bad_explanation_parameters_are_a_422_naming_them(
    linear: Live, params: dict[str, str], named: str
) -> None:
    response = linear.predict(_json(_rows(2)), **params)
    assert response.status_code == 422, response.text
    assert named in response.text


def test_a_deployment_without_training_rows_names_why_it_cannot_explain(models: RegisteredModels) -> None:
    """A linear model is explained against training rows: deployed without them (fromModelPackage/), 422."""
    with serve(Deployment.create_from_registered_model_version(models.churn_v1, "no baseline")) as live:
        response = live.predict(_json(_rows(2)), maxExplanations=2)
        assert response.status_code == 422
        assert "no training sample in its deployment baseline" in response.text
        assert "linear explainer needs training rows" in response.text
        assert live.predict(_json(_rows(2))).status_code == 200


def test_a_tree_model_deployed_without_training_rows_is_explained(models: RegisteredModels) -> None:
    """Random forest (tree-path-dependent SHAP): the same strengths as with a baseline's sample."""
    frame = _rows(6)
    bare = Deployment.create_from_registered_model_version(models.churn_v2, "forest, no baseline")
    with serve(bare) as live:
        response = live.predict(_json(frame), maxExplanations=3)
    assert response.status_code == 200, response.text
    alone = response.json()["data"]
    with serve(_deploy(models, models.churn_v2, "forest")) as live:
        sampled = live.predict(_json(frame), maxExplanations=3).json()["data"]
    for row, twin in zip(alone, sampled, strict=True):
        assert len(row["predictionExplanations"]) == 3
        assert [e["feature"] for e in row["predictionExplanations"]] == [
            e["feature"] for e in twin["predictionExplanations"]
        ]
        np.testing.assert_allclose(
            [e["strength"] for e in row["predictionExplanations"]],
            [e["strength"] for e in twin["predictionExplanations"]],
            atol=1e-9,
        )


def test_a_regression_row_is_explained_for_its_target(models: RegisteredModels) -> None:
    with serve(_deploy(models, models.charges, "charges")) as live:
        frame = _rows(3).drop(columns=["monthly_charges"])
        data = live.predict(_json(frame), maxExplanations=2, explanationAlgorithm="shap").json()["data"]
    assert all(e["label"] == "monthly_charges" for row in data for e in row["predictionExplanations"])
    assert all(len(row["predictionExplanations"]) == 2 for row in data)
