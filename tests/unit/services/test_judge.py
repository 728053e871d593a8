"""Judging a challenger: both models on the same labelled rows, validation, the margin and the replacement mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment, ModelRef
from airflow_mlops.registry import load_model
from airflow_mlops.services import judge_challenger

if TYPE_CHECKING:
    from conftest import RegisteredModels


def _reference(model_id: str, rows: pd.DataFrame, features: list[str]) -> tuple[float, float]:
    """AUC and LogLoss with scikit-learn, from the pipeline's own probabilities."""
    settings = get_settings()
    model = load_model(
        ModelRef.parse(model_id).uri,
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_registry_uri,
    )
    p = model.predict_proba(rows[features])[:, 1]
    return float(roc_auc_score(rows["churned"], p)), float(log_loss(rows["churned"], p))


@pytest.fixture
def rows() -> pd.DataFrame:
    from airflow_mlops.datasets import make_churn

    return make_churn(400, seed=3).drop(columns=["customer_id", "event_time"])


def test_scores_are_the_reference_values_and_the_better_model_wins(
    models: RegisteredModels, rows: pd.DataFrame
) -> None:
    linear_auc, linear_ll = _reference(models.churn_v1, rows, models.features)
    forest_auc, forest_ll = _reference(models.churn_v2, rows, models.features)
    assert linear_auc != forest_auc
    better, worse = (
        (models.churn_v1, models.churn_v2) if linear_auc > forest_auc else (models.churn_v2, models.churn_v1)
    )

    champion = Deployment.create_from_registered_model_version(worse, "champion is worse")
    champion.update_retraining_settings(metric="AUC", margin=0.0)
    judged = judge_challenger(champion.id, better, rows)
    assert judged.decision == "replace"
    assert judged.rows == 400 and judged.metric == "AUC" and judged.higher_is_better
    expected = {models.churn_v1: linear_auc, models.churn_v2: forest_auc}
    assert judged.champion_score == pytest.approx(expected[worse], abs=1e-9)
    assert judged.challenger_score == pytest.approx(expected[better], abs=1e-9)
    assert judged.improvement == pytest.approx(abs(linear_auc - forest_auc), abs=1e-9)
    assert judged.scores()["champion_metrics"]["LogLoss"] == pytest.approx(
        {models.churn_v1: linear_ll, models.churn_v2: forest_ll}[worse], rel=1e-6
    )
    assert judged.message.startswith("replace: AUC on 400 recent labelled rows")

    reverse = Deployment.create_from_registered_model_version(better, "champion is better")
    reverse.update_retraining_settings(metric="AUC")
    kept = judge_challenger(reverse.id, worse, rows)
    assert kept.decision == "not_replaced"
    assert kept.improvement == pytest.approx(-abs(linear_auc - forest_auc), abs=1e-9)
    assert "the policy needs more than 0" in kept.message


def test_the_margin_the_approval_mode_and_the_default_metric(
    models: RegisteredModels, rows: pd.DataFrame
) -> None:
    _, linear_ll = _reference(models.churn_v1, rows, models.features)
    _, forest_ll = _reference(models.churn_v2, rows, models.features)
    better, worse = (
        (models.churn_v1, models.churn_v2) if linear_ll < forest_ll else (models.churn_v2, models.churn_v1)
    )
    gain = abs(linear_ll - forest_ll)

    d = Deployment.create_from_registered_model_version(worse, "margins")
    # No retraining metric: the accuracy-health metric, LogLoss for a binary model (lower is better).
    judged = judge_challenger(d.id, better, rows)
    assert (judged.metric, judged.higher_is_better, judged.decision) == ("LogLoss", False, "replace")
    assert judged.improvement == pytest.approx(gain, rel=1e-6)

    d.update_retraining_settings(margin=round(gain + 0.01, 4))
    short = judge_challenger(d.id, better, rows)
    assert short.decision == "not_replaced"
    assert f"at least {round(gain + 0.01, 4):g}" in short.message

    d.update_retraining_settings(margin=0.0, replacement="approval")
    waiting = judge_challenger(d.id, better, rows)
    assert waiting.decision == "awaiting_approval"
    assert waiting.message.startswith("awaiting approval: LogLoss")


def test_a_challenger_failing_validation_is_never_deployed(
    models: RegisteredModels, rows: pd.DataFrame
) -> None:
    d = Deployment.create_from_registered_model_version(models.churn_v1, "validation")
    judged = judge_challenger(d.id, models.churn_small, rows)
    assert judged.decision == "not_replaced"
    assert "fails validation" in judged.message and "features" in judged.message
    assert judged.champion_score is None and judged.validation["status"] == "failing"

    d.update_retraining_settings(metric="RMSE")
    with pytest.raises(
        ValueError, match=r"retraining.metric: metric='RMSE' is not a valid accuracy metric for binary"
    ):
        judge_challenger(d.id, models.churn_v2, rows)

    one_class = rows[rows["churned"] == 0]
    d.update_retraining_settings(metric="AUC")
    undefined = judge_challenger(d.id, models.churn_v2, one_class)
    assert undefined.decision == "not_replaced" and "undefined on these rows" in undefined.message
