"""Fitted steps as NumPy functions: the steps' own answers, warnings and errors, on every setting."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from airflow_mlops.registry.packages.compiled_steps import compile_estimator, compile_step


def _same(ours: Any, theirs: Any) -> None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    if theirs.dtype.kind == "f":
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    else:
        assert [repr(v) for v in ours.ravel().tolist()] == [repr(v) for v in theirs.ravel().tolist()]


def _compiled(step: Any) -> Any:
    compiled = compile_step(step)
    assert compiled != step.transform, f"{step} was not compiled"
    return compiled


_RNG = np.random.default_rng(0)
_NUMBERS = _RNG.normal(10, 3, size=(80, 3))
_NUMBERS[_RNG.random(_NUMBERS.shape) < 0.1] = np.nan
_NUMBERS[:, 2] = np.where(np.isnan(_NUMBERS[:, 2]), 1.0, _NUMBERS[:, 2])  # never missing in training
_NEW = np.array([[np.nan, 1.0, np.nan], [2.0, np.nan, 3.0], [4.0, 5.0, 6.0]])


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent", "constant"])
@pytest.mark.parametrize("add_indicator", [False, True])
@pytest.mark.parametrize("keep_empty_features", [False, True])
@pytest.mark.parametrize("rows", [_NEW, _NEW[:1], _NEW.astype(np.float32), np.array([[1, 2, 3], [4, 5, 6]])])
def test_numeric_imputing_is_the_imputers(
    strategy: str, add_indicator: bool, keep_empty_features: bool, rows: np.ndarray
) -> None:
    imputer = SimpleImputer(
        strategy=strategy,
        fill_value=-1.0,
        add_indicator=add_indicator,
        keep_empty_features=keep_empty_features,
    ).fit(_NUMBERS)
    try:
        theirs = imputer.transform(rows)
    except ValueError as error:  # a float constant for int rows: the imputer's own error
        with pytest.raises(ValueError) as ours:
            _compiled(imputer)(rows)
        assert str(ours.value) == str(error)
        return
    _same(_compiled(imputer)(rows), theirs)


def test_an_imputer_with_an_empty_feature_dropped_is_left_to_itself() -> None:
    train = _NUMBERS.copy()
    train[:, 0] = np.nan
    imputer = SimpleImputer(strategy="median").fit(train)
    assert compile_step(imputer) == imputer.transform  # it drops the column with a warning per call
    kept = SimpleImputer(strategy="median", keep_empty_features=True).fit(train)
    _same(_compiled(kept)(_NEW), kept.transform(_NEW))


def test_category_imputing_is_the_imputers() -> None:
    train = np.array([["a", "x"], [np.nan, "y"], ["b", np.nan], ["a", "y"]], dtype=object)
    rows = np.array([[np.nan, None], ["c", np.nan]], dtype=object)  # None is not NaN to the imputer
    for strategy in ("most_frequent", "constant"):
        imputer = SimpleImputer(strategy=strategy, fill_value="missing").fit(train)
        _same(_compiled(imputer)(rows), imputer.transform(rows))


def test_infinities_get_the_steps_own_error() -> None:
    rows = np.array([[np.inf, 1.0, 2.0]])
    for step in (
        SimpleImputer(strategy="median").fit(_NUMBERS),
        StandardScaler().fit(np.nan_to_num(_NUMBERS)),
    ):
        with pytest.raises(ValueError, match="infinity") as theirs:
            step.transform(rows)
        with pytest.raises(ValueError, match="infinity") as ours:
            _compiled(step)(rows)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("with_mean", [False, True])
@pytest.mark.parametrize("with_std", [False, True])
@pytest.mark.parametrize("rows", [_NEW, _NEW[1:2], _NEW.astype(np.float32), np.array([[1, 2, 3]])])
def test_scaling_is_the_scalers(with_mean: bool, with_std: bool, rows: np.ndarray) -> None:
    scaler = StandardScaler(with_mean=with_mean, with_std=with_std).fit(_NUMBERS)
    _same(_compiled(scaler)(rows), scaler.transform(rows))


_TEXT = np.array(
    [["a"] * 40 + ["b"] * 30 + ["c"] * 20 + ["rare"] * 2 + [np.nan] * 8, ["x", "y"] * 50], dtype=object
).T
_TEXT_ROWS = np.array(
    [
        ["a", "x"],
        ["rare", "y"],
        [np.nan, "x"],
        [None, "y"],
        ["unseen", "x"],
        ["c", "unseen"],
        [float("nan"), "y"],
    ],
    dtype=object,
)
_ENCODERS = [
    {"handle_unknown": "ignore"},
    {"handle_unknown": "infrequent_if_exist", "min_frequency": 0.05},
    {"handle_unknown": "infrequent_if_exist", "max_categories": 3},
    {"handle_unknown": "infrequent_if_exist"},  # no infrequent category: unknowns are all zeros
    {"handle_unknown": "ignore", "min_frequency": 3, "max_categories": 4},
    {"handle_unknown": "error", "drop": "first"},
    {"handle_unknown": "ignore", "drop": "if_binary"},
    {"handle_unknown": "infrequent_if_exist", "drop": "first", "min_frequency": 0.05},
    {"handle_unknown": "warn", "min_frequency": 0.05},
    {"handle_unknown": "ignore", "dtype": np.float32},
]


@pytest.mark.parametrize("settings", _ENCODERS, ids=str)
@pytest.mark.parametrize("rows", [_TEXT_ROWS, _TEXT_ROWS[:1], _TEXT_ROWS[4:5], _TEXT_ROWS[:3]])
def test_one_hot_encoding_is_the_encoders(settings: dict[str, Any], rows: np.ndarray) -> None:
    encoder = OneHotEncoder(sparse_output=False, **settings).fit(_TEXT)
    compiled = _compiled(encoder)
    try:
        with warnings.catch_warnings(record=True) as theirs_warned:
            warnings.simplefilter("always")
            theirs = encoder.transform(rows)
    except ValueError as error:  # handle_unknown="error": the encoder's own error
        with pytest.raises(ValueError, match="unknown categor") as ours_error:
            compiled(rows)
        assert str(ours_error.value) == str(error)
        return
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours = compiled(rows)
    _same(ours, theirs)
    assert [str(w.message) for w in ours_warned] == [str(w.message) for w in theirs_warned]


@pytest.mark.parametrize("settings", _ENCODERS[:5], ids=str)
def test_numeric_categories_are_encoded_as_the_encoder_does(settings: dict[str, Any]) -> None:
    train = np.array([[1.0] * 40 + [2.0] * 30 + [3.0] * 20 + [7.0] * 2 + [np.nan] * 8]).T
    encoder = OneHotEncoder(sparse_output=False, **settings).fit(train)
    for rows in (np.array([[1.0], [7.0], [np.nan], [5.0], [2.0]]), np.array([[3], [2], [4]])):
        _same(_compiled(encoder)(rows), encoder.transform(rows))


def test_none_as_a_category_is_its_own_column() -> None:
    train = np.array([["a", None, "b", None, np.nan]], dtype=object).T
    encoder = OneHotEncoder(sparse_output=False, handle_unknown="ignore").fit(train)
    rows = np.array([[None], [np.nan], ["a"], ["z"]], dtype=object)
    _same(_compiled(encoder)(rows), encoder.transform(rows))


def test_a_sparse_encoder_is_left_to_itself() -> None:
    encoder = OneHotEncoder().fit(_TEXT)
    assert compile_step(encoder) == encoder.transform


def test_function_transformers_call_their_function() -> None:
    double = FunctionTransformer(lambda X, factor: X * factor, kw_args={"factor": 2.0}).fit(_NEW)
    _same(_compiled(double)(_NEW), double.transform(_NEW))
    identity = FunctionTransformer().fit(_NEW)
    _same(_compiled(identity)(_NEW), identity.transform(_NEW))
    validated = FunctionTransformer(np.abs, validate=True).fit(np.nan_to_num(_NEW))
    assert compile_step(validated) == validated.transform


def _classes(n_classes: int) -> np.ndarray:
    return np.array(["no", "yes", "maybe"][:n_classes], dtype=object)[_RNG.integers(0, n_classes, 200)]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("n_rows", [1, 50])
def test_logistic_regression_answers_as_its_methods(n_classes: int, n_rows: int) -> None:
    X = _RNG.normal(size=(200, 4))
    model = LogisticRegression().fit(X, _classes(n_classes))
    compiled = compile_estimator(model)
    assert compiled is not model
    rows = _RNG.normal(size=(n_rows, 4)) * 3
    _same(compiled.predict_proba(rows), model.predict_proba(rows))
    _same(compiled.predict(rows), model.predict(rows))


@pytest.mark.parametrize("model", [Ridge(alpha=0.5), LinearRegression(), Ridge(fit_intercept=False)], ids=str)
@pytest.mark.parametrize("outputs", [1, 2])
def test_linear_regressions_answer_as_their_predict(model: Any, outputs: int) -> None:
    X = _RNG.normal(size=(100, 3))
    y = X @ _RNG.normal(size=(3, outputs)) + _RNG.normal(size=(100, outputs))
    model.fit(X, y[:, 0] if outputs == 1 else y)
    compiled = compile_estimator(model)
    assert compiled is not model
    rows = _RNG.normal(size=(7, 3))
    _same(compiled.predict(rows), model.predict(rows))


def test_a_matrix_with_nan_gets_the_estimators_own_error() -> None:
    model = LogisticRegression().fit(_RNG.normal(size=(50, 2)), _classes(2)[:50])
    rows = np.array([[np.nan, 1.0]])
    with pytest.raises(ValueError, match="NaN"):
        compile_estimator(model).predict_proba(rows)


def test_other_estimators_are_left_as_they_are() -> None:
    from sklearn.tree import DecisionTreeClassifier

    model = DecisionTreeClassifier().fit(_RNG.normal(size=(20, 2)), _classes(2)[:20])
    assert compile_estimator(model) is model


def test_a_step_asked_for_frames_is_left_to_itself() -> None:
    scaler = StandardScaler().set_output(transform="pandas").fit(_NUMBERS)
    assert compile_step(scaler) == scaler.transform


def test_a_step_missing_a_fitted_attribute_is_left_to_itself() -> None:
    imputer = SimpleImputer().fit(_NUMBERS)
    del imputer._fill_dtype  # as from another scikit-learn version
    assert compile_step(imputer) == imputer.transform
    scaler = StandardScaler().fit(_NUMBERS)
    del scaler.n_features_in_
    assert compile_step(scaler) == scaler.transform
