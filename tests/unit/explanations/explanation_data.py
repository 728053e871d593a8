"""Training rows with every kind of column, and fitted AutoML models on them, for explanation tests."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from airflow_mlops.automl import fit_pipeline, get_family
from airflow_mlops.datasets import make_churn

#: Fewer rounds than the families' defaults: the tests check arithmetic, not accuracy.
SMALL = {
    "random_forest": {"n_estimators": 15},
    "extra_trees": {"n_estimators": 15},
    "hist_gradient_boosting": {"max_iter": 25},
    "lightgbm": {"n_estimators": 25},
    "xgboost": {"n_estimators": 25},
    "catboost": {"n_estimators": 25},
}
FAMILIES = (
    "linear",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
    "catboost",
    "knn",
)
TARGETS = {"binary": "churned", "multiclass": "payment_method", "regression": "monthly_charges"}


@cache
def frame() -> pd.DataFrame:
    """Churn rows plus a date column (``event_time``, text as a request sends it) and a 40-value city."""
    df = make_churn(360, seed=5, hours=24 * 400).drop(columns=["customer_id"])
    rng = np.random.default_rng(3)
    df["city"] = [f"city-{k}" for k in rng.integers(0, 40, len(df))]
    df["event_time"] = df["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    df["payment_method"] = df["payment_method"].astype(str)
    return df.reset_index(drop=True)


def features(task: str) -> list[str]:
    return [c for c in frame().columns if c != TARGETS[task] and (task == "multiclass" or c != "churned")]


@cache
def fitted(family: str, task: str) -> Any:
    df = frame()
    target = TARGETS[task]
    data = df[[*features(task), target]]
    if family == "ensemble":
        params: dict[str, Any] = {
            "members": [
                {"family": "linear", "params": get_family("linear").default_params(task)},  # type: ignore[arg-type]
                {
                    "family": "lightgbm",
                    "params": {**get_family("lightgbm").default_params(task), **SMALL["lightgbm"]},
                },  # type: ignore[arg-type]
            ],
            "weights": [1.0, 2.0],
        }
    else:
        params = {**get_family(family).default_params(task), **SMALL.get(family, {})}  # type: ignore[arg-type]
    return fit_pipeline(data, target, family, params, task, seed=0, n_jobs=1)  # type: ignore[arg-type]
