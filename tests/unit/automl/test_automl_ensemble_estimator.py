"""The blended model: the members' own pipelines averaged, over raw frames, and loadable by skops from MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.base import is_classifier, is_regressor

from airflow_mlops.automl import fit_pipeline
from airflow_mlops.automl.ensemble import WeightedEnsemble
from airflow_mlops.automl.importance import permutation_feature_importance
from airflow_mlops.registry import load_model, register_model

MEMBERS = [
    {"family": "linear", "params": {"C": 1.0, "class_weight": None}},
    {"family": "random_forest", "params": {"n_estimators": 30, "max_depth": 6}},
]


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    return pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=n),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "signed_up": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "churned": np.where(signal + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
            "spend": 3 * signal + rng.normal(scale=0.3, size=n),
        }
    )


def test_a_classifier_blends_its_members_probabilities() -> None:
    df = _frame().drop(columns="spend")
    model = fit_pipeline(
        df, "churned", "ensemble", {"members": MEMBERS, "weights": [0.25, 0.75]}, "binary", 0
    )
    assert isinstance(model, WeightedEnsemble) and is_classifier(model)
    singles = [fit_pipeline(df, "churned", m["family"], m["params"], "binary", 0) for m in MEMBERS]
    X = df.drop(columns="churned")
    expected = 0.25 * singles[0].predict_proba(X) + 0.75 * singles[1].predict_proba(X)
    assert np.allclose(model.predict_proba(X), expected)
    assert model.classes_.tolist() == ["no", "yes"]
    assert (model.predict(X) == model.classes_[expected.argmax(axis=1)]).all()
    importance = permutation_feature_importance(model, X, df["churned"], metric="AUC", task="binary")
    assert next(iter(importance)) == "signal", "explained on raw columns like any model"


def test_a_regressor_blends_predictions_and_has_no_probabilities() -> None:
    df = _frame().drop(columns="churned")
    members = [
        {"family": "linear", "params": {"alpha": 1.0}},
        {"family": "knn", "params": {"n_neighbors": 5}},
    ]
    model = fit_pipeline(df, "spend", "ensemble", {"members": members, "weights": [3, 1]}, "regression", 0)
    assert is_regressor(model) and not hasattr(model, "predict_proba")
    singles = [fit_pipeline(df, "spend", m["family"], m["params"], "regression", 0) for m in members]
    X = df.drop(columns="spend")
    assert np.allclose(model.predict(X), 0.75 * singles[0].predict(X) + 0.25 * singles[1].predict(X))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"members": [], "weights": []}, "members must be a non-empty list"),
        ({"members": MEMBERS, "weights": [1.0]}, "weights must be 2 positive numbers, one per member"),
        ({"members": MEMBERS, "weights": [1.0, -1.0]}, "weights must be 2 positive numbers"),
        ({"members": [{"params": {}}], "weights": [1.0]}, r"members\[0\] must be a dict with a 'family'"),
        ({"members": [{"family": "ensemble"}], "weights": [1.0]}, r"members\[0\] is itself an ensemble"),
    ],
)
def test_bad_members_or_weights_are_refused_clearly(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_pipeline(_frame(), "churned", "ensemble", params, "binary", 0)


def test_registers_and_loads_back_through_skops(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(tracking_uri=uri).create_experiment("ens", artifact_location=(tmp_path / "a").as_uri())
    df = _frame().drop(columns="spend")
    model = fit_pipeline(df, "churned", "ensemble", {"members": MEMBERS, "weights": [0.5, 0.5]}, "binary", 0)
    version = register_model(
        model, name="blend", train_df=df, target="churned", tracking_uri=uri, experiment_name="ens"
    )
    loaded = load_model(version, uri)
    probe = df.drop(columns="churned").head(20).copy()
    probe.loc[probe.index[:3], "plan"] = "enterprise"  # unseen category
    probe["signed_up"] = probe["signed_up"].astype(str)  # what a JSON request carries
    assert type(loaded) is WeightedEnsemble
    assert np.allclose(loaded.predict_proba(probe), model.predict_proba(probe))
    assert (version.task, version.classes) == ("binary", ["no", "yes"])
    assert version.feature_names == ["signal", "noise", "plan", "signed_up"]
