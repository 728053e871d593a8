"""The optional CatBoost family: registered, given category columns natively, bounded threads, no files.

Fitting, predicting and seeding for every task are covered with the other
families in test_automl_families.py; the registry round trip with every
column kind in tests/unit/registry/test_registry_automl_models.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from airflow_mlops.automl import SweepConfig, family_names, fit_pipeline, get_family, run_sweep
from airflow_mlops.automl.families import OPTIONAL_FAMILIES
from airflow_mlops.registry import load_model, register_model

pytest.importorskip("catboost", reason="catboost is an optional extra (requirements.txt pins it)")

EXPERIMENT = "catboost-test"


def _shops(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A regression whose signal is mostly in a 150-value category: what CatBoost is for."""
    rng = np.random.default_rng(seed)
    shop = rng.integers(0, 150, n)
    effect = np.random.default_rng(99).normal(scale=3.0, size=150)
    x = rng.normal(size=n)
    df = pd.DataFrame(
        {"shop": [f"shop{i:03d}" for i in shop], "x": x, "plan": rng.choice(["a", "b", None], n)}
    )
    df.loc[::11, "x"] = np.nan
    df["y"] = effect[shop] + np.nan_to_num(x) + rng.normal(scale=0.3, size=n)
    return df


def test_registered_after_the_other_boosters() -> None:
    assert OPTIONAL_FAMILIES["catboost"] is True
    names = family_names()
    assert "catboost" in family_names("binary") and "catboost" in family_names("regression")
    assert names.index("linear") < names.index("catboost") < names.index("hist_gradient_boosting")


def test_categories_reach_catboost_as_strings_and_bound_its_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # CatBoost's default would write catboost_info/ here
    df = _shops()
    params = get_family("catboost").default_params("regression")
    pipe = fit_pipeline(df, "y", "catboost", params, "regression", seed=0, n_jobs=1)
    model = pipe.named_steps["model"]
    assert model.get_params()["thread_count"] == 1
    assert model.get_params()["cat_features"] == (0, 1), "shop and plan, in that order, first"
    encoded = pipe.named_steps["preprocess"].transform(df.drop(columns="y").head(3))
    assert list(encoded[:, 0]) == list(df["shop"].head(3)), "the raw shop names, not numbers"
    assert encoded[2, 1] == "missing"
    assert np.isnan(float(encoded[0, 2])), "a missing number stays NaN for CatBoost to handle"
    assert os.listdir(tmp_path) == [], "no training files written"

    # It learns the per-shop effect from the category (held-out rows of seen shops).
    test = _shops(300, seed=1)
    predictions = pipe.predict(test.drop(columns="y"))
    assert np.corrcoef(predictions, test["y"])[0, 1] > 0.8


def test_small_sweep_searches_catboost(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(tracking_uri=uri).create_experiment(EXPERIMENT, artifact_location=(tmp_path / "a").as_uri())
    config = SweepConfig(
        target="y",
        families=["catboost"],
        n_trials=3,
        pruner="none",
        seed=0,
        n_jobs=1,
        experiment_name=EXPERIMENT,
        tracking_uri=uri,
    )
    result = run_sweep(_shops(400), config)
    board = result.leaderboard
    catboost = board[board["family"] == "catboost"]
    assert len(catboost) >= 2, "the warm start and at least one searched candidate"
    assert catboost["score"].notna().all()
    searched = [p for p in catboost["params"] if p != get_family("catboost").default_params("regression")]
    assert searched and all(3 <= p["depth"] <= 8 for p in searched)
    # CatBoost encodes categories itself: it is never offered the encoding choice.
    assert all("high_cardinality_encoding" not in p for p in catboost["params"])


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_classifier_round_trips_through_the_registry(tmp_path: Path, task: str) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(tracking_uri=uri).create_experiment(EXPERIMENT, artifact_location=(tmp_path / "a").as_uri())
    df = _shops(300)
    cuts = [-np.inf, 0, np.inf] if task == "binary" else [-np.inf, -1, 1, np.inf]
    df["y"] = pd.cut(df["y"], cuts, labels=["low", "high"] if task == "binary" else ["low", "mid", "high"])
    df["y"] = df["y"].astype(str)
    pipe = fit_pipeline(df, "y", "catboost", {"n_estimators": 50}, task, seed=0, n_jobs=1)  # type: ignore[arg-type]
    version = register_model(
        pipe, name=f"cb-{task}", train_df=df, target="y", tracking_uri=uri, experiment_name=EXPERIMENT
    )
    assert version.task == task
    loaded = load_model(version, uri)
    probe = df.drop(columns="y").head(10).copy()
    probe.loc[probe.index[:2], "shop"] = "shop-never-seen"
    probe.loc[probe.index[2], "plan"] = "enterprise"
    assert np.allclose(loaded.predict_proba(probe), pipe.predict_proba(probe))
    assert list(loaded.predict(probe)) == list(pipe.predict(probe))
    assert set(loaded.predict(probe)) <= set(df["y"])
