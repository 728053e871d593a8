"""Batch scoring adds DataRobot's explanation columns when asked, with one schema across chunks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.model_baseline import build_model_baseline
from airflow_mlops.operators.serving import BatchScoreOperator
from airflow_mlops.serving.batch import BatchScoreError, batch_score

if TYPE_CHECKING:
    from conftest import RegisteredModels


def test_batch_output_gets_explanation_columns_for_rows_past_the_threshold(
    models: RegisteredModels, mlops_home: Path
) -> None:
    baseline = build_model_baseline(models.churn_v1, models.train).to_dict()
    deployment = Deployment.create_from_registered_model_version(
        models.churn_v1, "batch-explained", baseline=baseline
    )
    frame = make_churn(300, seed=4).drop(columns=["churned", "event_time"])
    source = mlops_home / "rows.csv"
    frame.to_csv(source, index=False)
    out = mlops_home / "scored.parquet"
    operator = BatchScoreOperator(
        task_id="score",
        deployment_id=deployment.id,
        source=str(source),
        output_path=str(out),
        chunk_rows=100,
        max_explanations=2,
        threshold_high=0.3,
    )
    operator.execute({})  # type: ignore[arg-type]
    scored = pd.read_parquet(out)
    assert [c for c in scored.columns if c.startswith("EXPLANATION_")] == [
        f"EXPLANATION_{k}_{field}"
        for k in (1, 2)
        for field in ("FEATURE_NAME", "STRENGTH", "ACTUAL_VALUE", "QUALITATIVE_STRENGTH")
    ]
    explained = scored["churned_1_PREDICTION"] > 0.3
    assert 0 < explained.sum() < len(scored)
    np.testing.assert_array_equal(scored["EXPLANATION_1_FEATURE_NAME"].notna(), explained)
    assert set(scored.loc[explained, "EXPLANATION_1_FEATURE_NAME"]) <= set(models.features)
    first = scored.loc[explained, "EXPLANATION_1_STRENGTH"].abs()
    assert (first >= scored.loc[explained, "EXPLANATION_2_STRENGTH"].abs()).all()
    # The value shown is the row's own, as text.
    for i in np.flatnonzero(explained)[:10]:
        name = scored["EXPLANATION_1_FEATURE_NAME"].iloc[i]
        assert scored["EXPLANATION_1_ACTUAL_VALUE"].iloc[i] == str(frame[name].iloc[i])


def test_a_bad_max_explanations_fails_before_scoring(models: RegisteredModels, mlops_home: Path) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "batch-bad")
    with pytest.raises(BatchScoreError, match="maxExplanations='500'"):
        batch_score(deployment.id, source=str(mlops_home / "never-read.csv"), max_explanations=500)
