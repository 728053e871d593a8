"""The pipeline the sweep scores and the refit fits: preprocessing and estimator in one object."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from airflow_mlops.automl import build_pipeline, fit_pipeline, get_family, infer_feature_types


def _classification(n: int = 200) -> pd.DataFrame:
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, random_state=0)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    rng = np.random.default_rng(0)
    df["region"] = rng.choice(["north", "south", "east", "west"], n)
    df.loc[rng.random(n) < 0.1, "x1"] = np.nan
    df.loc[rng.random(n) < 0.1, "region"] = None
    df["label"] = np.array(["no", "yes"])[y]
    return df


def test_build_pipeline_gives_threads_only_to_parallel_families() -> None:
    types = infer_feature_types(_classification(), "label")
    forest = build_pipeline("random_forest", {}, "binary", 0, types, n_jobs=3)
    assert forest.named_steps["model"].n_jobs == 3
    # LogisticRegression has an n_jobs parameter too, but the linear family is not parallel.
    linear = build_pipeline("linear", get_family("linear").default_params("binary"), "binary", 0, types, 3)
    assert linear.named_steps["model"].get_params().get("n_jobs") != 3
    assert list(forest.named_steps) == ["preprocess", "model"]


def test_fit_pipeline_refits_on_all_labelled_rows() -> None:
    df = _classification()
    df.loc[:9, "label"] = None
    params = get_family("random_forest").default_params("binary")
    pipe = fit_pipeline(df, "label", "random_forest", params, "binary", seed=0)
    assert pipe.named_steps["model"].n_estimators == 100
    assert sorted(pipe.classes_) == ["no", "yes"]
    assert list(pipe.feature_names_in_) == [c for c in df.columns if c != "label"]
    again = fit_pipeline(df, "label", "random_forest", params, "binary", seed=0)
    X = df.drop(columns="label")
    assert np.array_equal(pipe.predict_proba(X), again.predict_proba(X))
