"""The serving shortcut through an AutoML pipeline: the pipeline's own answers, or the pipeline itself."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from airflow_mlops.automl import family_names, fit_pipeline, get_family
from airflow_mlops.datasets import make_churn
from airflow_mlops.registry.packages import FastPipeline
from airflow_mlops.registry.packages.fast_pipeline import VERIFY_CALLS


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Churn rows with every kind of feature: numbers, categories, number codes, a datetime, an id."""
    df = make_churn(n, seed=seed)
    rng = np.random.default_rng(seed)
    df["region"] = pd.Series([f"r{i}" for i in rng.integers(0, 80, n)], dtype=object)  # target-encoded
    df["plan_code"] = rng.integers(1, 5, n)  # numbers that are categories (one-hot of their spelling)
    return df.drop(columns=["customer_id"])


def _serving_rows(n: int, drop: str) -> pd.DataFrame:
    """Rows as a request brings them: holes, unseen categories, timestamps as strings."""
    rows = _frame(max(n, 6), seed=7).drop(columns=[drop])
    categories = [c for c in ("contract", "payment_method", "internet_service") if c in rows.columns]
    rows = rows.astype(dict.fromkeys(categories, object))
    rows["event_time"] = rows["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(object)
    rows.loc[0, "monthly_charges"] = np.nan
    rows.loc[1, categories[0]] = None
    rows.loc[2, categories[1]] = "never seen in training"
    rows.loc[3, "region"] = "r-new"
    rows.loc[4, "event_time"] = None
    rows["plan_code"] = rows["plan_code"].astype(float)
    rows.loc[5, "plan_code"] = 9.0  # an unseen code
    rows.loc[1, "plan_code"] = np.nan
    return rows.iloc[:n].reset_index(drop=True) if n < 6 else rows


#: Each task's target in :func:`_frame` (a category for multiclass: three classes).
TARGETS = {"binary": "churned", "multiclass": "internet_service", "regression": "spend"}


@pytest.mark.parametrize("family", sorted(family_names()))
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("n_rows", [1, 60])
def test_the_shortcut_answers_exactly_what_the_pipeline_answers(family: str, task: str, n_rows: int) -> None:
    df = _frame(400, seed=1)
    target = TARGETS[task]
    if task == "regression":
        df = df.drop(columns=["churned"]).rename(columns={"total_charges": target})
    pipeline = fit_pipeline(df, target, family, get_family(family).default_params(task), task, seed=0)
    fast = FastPipeline.maybe(pipeline, f"{family}/1")
    assert fast is not None
    rows = _serving_rows(n_rows, drop="churned" if task != "multiclass" else target)
    if task == "regression":
        rows = rows.rename(columns={"total_charges": "other"})
    method = "predict" if task == "regression" else "predict_proba"
    for _ in range(VERIFY_CALLS + 2):  # checked calls, then trusted ones
        ours = getattr(fast, method)(rows)
        np.testing.assert_allclose(ours, getattr(pipeline, method)(rows), rtol=1e-9, atol=1e-12)
    assert not fast._off, "the shortcut gave up on a pipeline it should handle"


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_trusted_calls_do_not_go_through_scikit_learns_methods_for_compiled_steps(
    task: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = _frame(300, seed=3)
    target = TARGETS[task]
    if task == "regression":
        df = df.drop(columns=["churned"]).rename(columns={"total_charges": target})
    pipeline = fit_pipeline(df, target, "linear", get_family("linear").default_params(task), task, seed=0)
    fast = FastPipeline.maybe(pipeline, "linear/1")
    assert fast is not None
    rows = _serving_rows(30, drop="churned" if task != "multiclass" else target)
    if task == "regression":
        rows = rows.rename(columns={"total_charges": "other"})
    method = "predict" if task == "regression" else "predict_proba"
    expected = getattr(pipeline, method)(rows)
    for _ in range(VERIFY_CALLS):
        getattr(fast, method)(rows)

    compiled_kinds = (SimpleImputer, StandardScaler, OneHotEncoder, FunctionTransformer)
    steps = [step for _, part in fast._parts for step in part]
    assert not any(isinstance(getattr(step, "__self__", None), compiled_kinds) for step in steps)
    assert not isinstance(fast._estimator, LogisticRegression | Ridge)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("called scikit-learn's own method")

    # Nor do the compiled steps hand these rows (holes, unseen categories) to the steps' own methods.
    for kind, name in [
        (SimpleImputer, "transform"),
        (StandardScaler, "transform"),
        (OneHotEncoder, "transform"),
        (FunctionTransformer, "transform"),
        (LogisticRegression, "predict_proba"),
        (Ridge, "predict"),
    ]:
        monkeypatch.setattr(kind, name, refuse)
    np.testing.assert_allclose(getattr(fast, method)(rows), expected, rtol=1e-9, atol=1e-12)
    assert not fast._off


def test_shapes_it_does_not_know_are_left_to_the_pipeline() -> None:
    df = _frame(200, seed=1)
    X, y = df[["tenure_months", "monthly_charges"]], df["churned"]
    assert FastPipeline.maybe(LogisticRegression().fit(X, y), "m/1") is None
    plain = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    assert FastPipeline.maybe(plain, "m/1") is None  # no column transformer in front


def _fitted() -> tuple[Pipeline, pd.DataFrame]:
    df = _frame(300, seed=2)
    pipeline = fit_pipeline(
        df, "churned", "linear", get_family("linear").default_params("binary"), "binary", 0
    )
    return pipeline, _serving_rows(20, drop="churned")


def test_a_different_answer_turns_the_shortcut_off_and_the_pipeline_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline, rows = _fitted()
    fast = FastPipeline.maybe(pipeline, "churn/9")
    assert fast is not None
    # A fault that cannot happen with a sound pipeline: the shortcut's numeric scaler made wrong.
    columns, steps = fast._parts[0]
    width = pipeline.steps[0][1].named_transformers_["numeric"].steps[-1][1].n_features_in_
    wrong = StandardScaler().fit(np.random.default_rng(0).normal(50, 9, size=(50, width)))
    fast._parts[0] = (columns, [*steps[:-1], wrong.transform])
    with caplog.at_level(logging.WARNING):
        answer = fast.predict_proba(rows)
    np.testing.assert_array_equal(answer, pipeline.predict_proba(rows))
    assert fast._off and "churn/9" in caplog.text and "differed" in caplog.text
    np.testing.assert_array_equal(fast.predict_proba(rows), pipeline.predict_proba(rows))  # stays off


def test_rows_the_pipeline_refuses_get_the_pipelines_own_error() -> None:
    pipeline, rows = _fitted()
    fast = FastPipeline.maybe(pipeline, "churn/9")
    assert fast is not None
    with pytest.raises(ValueError, match=r"columns are missing: \{'tenure_months'\}"):  # the pipeline's
        fast.predict_proba(rows.drop(columns=["tenure_months"]))
    assert not fast._off  # bad rows are the caller's fault, not the shortcut's
