"""For every family: contributions plus the base value equal the model's raw output, row by row.

The raw output is read from each library's own API (decision_function,
raw_score, output_margin, RawFormulaVal, predict_proba), not from the
explainer, so a wrong output space or class would fail here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from explanation_data import FAMILIES, features, fitted, frame

from airflow_mlops.explanations import ModelExplainer, NoBackgroundError, needs_background

#: What each family's contributions add up to, for classification (regression: the prediction).
OUTPUT = {
    "linear": ("log-odds", "class score"),
    "random_forest": ("probability", "probability"),
    "extra_trees": ("probability", "probability"),
    "hist_gradient_boosting": ("log-odds", "class score"),
    "lightgbm": ("log-odds", "class score"),
    "xgboost": ("log-odds", "class score"),
    "catboost": ("log-odds", "class score"),
    "knn": ("probability", "probability"),
    "ensemble": ("probability", "probability"),
}
#: Exact explainers agree to float32 rounding of the boosters' own sums; the permutation path is exact
#: by construction (its steps telescope), whatever its sampling error in the split between columns.
TOLERANCE = {"linear": 1e-9, "knn": 1e-9, "ensemble": 1e-9}


def _raw(family: str, task: str, model: Any, rows: pd.DataFrame) -> np.ndarray:
    """The model's raw output per row (binary: for the positive class), per class for multiclass."""
    if task == "regression":
        return np.asarray(model.predict(rows), dtype=float)
    if family in ("random_forest", "extra_trees", "knn", "ensemble"):
        proba = model.predict_proba(rows)
        return proba[:, 1] if task == "binary" else proba
    transformed = model[0].transform(rows)
    estimator = model[-1]
    if family in ("linear", "hist_gradient_boosting"):
        raw = estimator.decision_function(transformed)
    elif family == "lightgbm":
        raw = estimator.predict(transformed, raw_score=True)
    elif family == "xgboost":
        raw = estimator.estimator_.predict(transformed, output_margin=True)
    else:  # catboost
        raw = estimator.estimator_.predict(transformed, prediction_type="RawFormulaVal")
    return np.asarray(raw, dtype=float)


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
@pytest.mark.parametrize("family", [*FAMILIES, "ensemble"])
def test_contributions_plus_base_equal_the_raw_output(family: str, task: str) -> None:
    model = fitted(family, task)
    names = features(task)
    background = frame()[names].head(80)
    rows = frame()[names].tail(25).reset_index(drop=True)
    explainer = ModelExplainer(model, background)
    explanation = explainer.explain(rows)

    assert explanation.features == names
    assert explanation.values.shape == (25, len(names))
    assert explanation.output == ("value" if task == "regression" else OUTPUT[family][task == "multiclass"])
    raw = _raw(family, task, model, rows)
    if task == "multiclass":
        # The predicted class is explained by default.
        predicted = model.predict_proba(rows).argmax(axis=1)
        np.testing.assert_array_equal(explanation.class_index, predicted)
        raw = raw[np.arange(len(rows)), predicted]
    total = explanation.values.sum(axis=1) + explanation.base
    np.testing.assert_allclose(
        total, raw, rtol=0, atol=TOLERANCE.get(family, 1e-4) * max(1.0, np.abs(raw).max())
    )
    # Not trivially additive: several columns contribute, and not the same amounts to every row.
    assert (np.abs(explanation.values) > 1e-9).sum(axis=1).max() >= 2
    assert np.ptp(explanation.values, axis=0).max() > 0


def test_a_multiclass_row_can_be_explained_for_any_class() -> None:
    model = fitted("lightgbm", "multiclass")
    names = features("multiclass")
    rows = frame()[names].tail(6).reset_index(drop=True)
    explainer = ModelExplainer(model, frame()[names].head(50))
    raw = _raw("lightgbm", "multiclass", model, rows)
    for k in range(raw.shape[1]):
        explanation = explainer.explain(rows, np.full(len(rows), k))
        np.testing.assert_allclose(explanation.values.sum(axis=1) + explanation.base, raw[:, k], atol=1e-4)


def test_the_permutation_path_is_close_to_exact_shapley_values() -> None:
    """kNN's sampled values against the exact Shapley values over the same background (all 2^d coalitions)."""
    from itertools import combinations
    from math import factorial

    model = fitted("knn", "regression")
    names = features("regression")
    background = frame()[names].head(20).reset_index(drop=True)
    row = frame()[names].tail(1).reset_index(drop=True)
    sampled = np.mean(
        [ModelExplainer(model, background, seed=s).explain(row).values[0] for s in range(40)], axis=0
    )
    d = len(names)

    def value(coalition: tuple[int, ...]) -> float:
        masked = background.copy()
        for j in coalition:
            masked[names[j]] = row[names[j]].iloc[0]
        return float(np.mean(model.predict(masked)))

    cache = {c: value(c) for size in range(d + 1) for c in combinations(range(d), size)}
    exact = np.zeros(d)
    for j in range(d):
        for size in range(d):
            weight = factorial(size) * factorial(d - size - 1) / factorial(d)
            for c in combinations([i for i in range(d) if i != j], size):
                exact[j] += weight * (cache[tuple(sorted((*c, j)))] - cache[c])
    spread = float(np.abs(exact).max())
    # 40 seeds x 2 antithetic walks: within 10% of the largest contribution, column by column.
    np.testing.assert_allclose(sampled, exact, rtol=0, atol=0.1 * spread)


TREES = ("random_forest", "extra_trees", "hist_gradient_boosting", "lightgbm", "xgboost", "catboost")


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
@pytest.mark.parametrize("family", TREES)
def test_tree_models_are_explained_without_training_rows(family: str, task: str) -> None:
    """Tree-path-dependent SHAP reads the trees alone: no background, the same values, still additive."""
    model = fitted(family, task)
    names = features(task)
    rows = frame()[names].tail(25).reset_index(drop=True)
    alone = ModelExplainer(model, None).explain(rows)
    assert ModelExplainer(model, frame()[names].head(0)).explain(rows).values.shape == (25, len(names))
    with_rows = ModelExplainer(model, frame()[names].head(80)).explain(rows)
    assert alone.features == names
    np.testing.assert_allclose(alone.values, with_rows.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(alone.base, with_rows.base, rtol=0, atol=1e-12)
    raw = _raw(family, task, model, rows)
    if task == "multiclass":
        raw = raw[np.arange(len(rows)), alone.class_index]
    np.testing.assert_allclose(
        alone.values.sum(axis=1) + alone.base, raw, rtol=0, atol=1e-4 * max(1.0, np.abs(raw).max())
    )
    assert not needs_background(model)


@pytest.mark.parametrize("family", ["linear", "knn", "ensemble"])
def test_models_that_need_training_rows_refuse_to_explain_without_them(family: str) -> None:
    model = fitted(family, "binary")
    assert needs_background(model)
    for background in (None, frame()[features("binary")].head(0)):
        with pytest.raises(NoBackgroundError, match="needs a background sample"):
            ModelExplainer(model, background)
