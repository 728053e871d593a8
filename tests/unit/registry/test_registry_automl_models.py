"""Registering what the AutoML sweep produces: every family, every kind of column, feature importance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from airflow_mlops.automl import TaskType, family_names, fit_pipeline, get_family
from airflow_mlops.automl.importance import permutation_feature_importance
from airflow_mlops.registry import get_model_version, load_model, register_model

EXPERIMENT = "registry-automl-test"


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(tracking_uri=uri).create_experiment(EXPERIMENT, artifact_location=(tmp_path / "a").as_uri())
    yield uri


def _frame(n: int = 300) -> pd.DataFrame:
    """Numbers, a low- and a high-cardinality category, a timestamp, an all-missing column."""
    rng = np.random.default_rng(0)
    signal = rng.normal(size=n)
    return pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=n),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "zip_code": [f"z{i % 90:03d}" for i in range(n)],
            "signed_up": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "empty": np.full(n, np.nan),
            "churned": np.where(signal + rng.normal(scale=0.3, size=n) > 0, "yes", "no"),
        }
    )


#: The families whose estimators need trust beyond scikit-learn (and linear, which sees every encoder).
SPECIAL = [name for name in ("linear", "lightgbm", "xgboost", "catboost") if name in family_names("binary")]


@pytest.mark.parametrize("family", SPECIAL)
def test_every_family_round_trips_with_every_column_kind(tracking_uri: str, family: str) -> None:
    df = _frame()
    task: TaskType = "binary"
    pipeline = fit_pipeline(df, "churned", family, get_family(family).default_params(task), task, seed=0)
    version = register_model(
        pipeline,
        name=f"m-{family}",
        train_df=df,
        target="churned",
        tracking_uri=tracking_uri,
        experiment_name=EXPERIMENT,
    )
    loaded = load_model(version, tracking_uri)
    probe = df.drop(columns="churned").head(20).copy()
    probe.loc[probe.index[:3], "plan"] = "enterprise"  # unseen category
    probe.loc[probe.index[:3], "zip_code"] = "z999"  # unseen high-cardinality value
    probe["signed_up"] = probe["signed_up"].astype(str)  # what a JSON request carries
    assert np.allclose(loaded.predict_proba(probe), pipeline.predict_proba(probe))
    assert set(loaded.predict(probe)) <= {"yes", "no"}


def test_feature_importance_is_a_version_tag(tracking_uri: str) -> None:
    df = _frame()
    pipeline = fit_pipeline(df, "churned", "linear", {"C": 1.0, "class_weight": None}, "binary", seed=0)
    importance = permutation_feature_importance(
        pipeline, df.drop(columns="churned"), df["churned"], metric="AUC", task="binary", seed=0
    )
    assert next(iter(importance)) == "signal", "the column the target depends on matters most"
    assert importance["signal"] > 0.1 > abs(importance["noise"])
    version = register_model(
        pipeline,
        name="churn",
        train_df=df,
        target="churned",
        tracking_uri=tracking_uri,
        experiment_name=EXPERIMENT,
        tags={"dataset_version": "v1", "sweep_id": "study-1", "metric": "AUC"},
        feature_importance=importance,
    )
    again = get_model_version("churn", version.version, tracking_uri=tracking_uri)
    assert again.feature_importance == pytest.approx(importance, abs=1e-6)
    assert list(again.feature_importance or {}) == list(importance), "most important first"
    assert json.loads(again.tags["features"]) == again.feature_names
    assert {again.tags[k] for k in ("dataset_version", "sweep_id", "metric")} == {"v1", "study-1", "AUC"}
    client = MlflowClient(tracking_uri=tracking_uri)
    assert "feature_importance.json" in [a.path for a in client.list_artifacts(str(version.run_id))]
    with pytest.raises(ValueError, match=r"not features: \['ghost'\]"):
        register_model(
            pipeline,
            name="churn",
            train_df=df,
            target="churned",
            tracking_uri=tracking_uri,
            experiment_name=EXPERIMENT,
            feature_importance={"ghost": 1.0},
        )
    with pytest.raises(ValueError, match="reserved"):
        register_model(
            pipeline,
            name="churn",
            train_df=df,
            target="churned",
            tracking_uri=tracking_uri,
            experiment_name=EXPERIMENT,
            tags={"feature_importance": "{}"},
        )
