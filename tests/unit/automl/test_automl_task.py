from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.automl.task import (
    DEFAULT_METRICS,
    METRICS,
    default_metric,
    detect_task,
    get_metric,
    validate_task,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([0, 1, 1, 0, 1]), "binary"),
        (pd.Series([True, False, True]), "binary"),
        (pd.Series(["yes", "no", "yes", None]), "binary"),
        (pd.Series([0.0, 1.0, np.nan, 1.0]), "binary"),
        (pd.Series(pd.Categorical(["a", "b", "a"])), "binary"),
        (pd.Series(["a", "b", "c", "a"]), "multiclass"),
        (pd.Series([0, 1, 2, 3, 4, 2]), "multiclass"),
        (pd.Series([1.0, 2.0, 3.0, np.nan]), "multiclass"),
        (pd.Series(pd.Categorical(["x", "y", "z"])), "multiclass"),
        (pd.Series([0.5, 1.25, 3.0, 2.0]), "regression"),
        (pd.Series(np.arange(100)), "regression"),
    ],
)
def test_detect_task(values: pd.Series, expected: str) -> None:
    assert detect_task(values.rename("y")) == expected


def test_override_wins_when_consistent_with_the_data() -> None:
    counts = pd.Series([0, 1, 2, 3, 1, 2], name="y")
    assert detect_task(counts) == "multiclass"
    assert detect_task(counts, override="regression") == "regression"


def test_invalid_override_name_is_quoted() -> None:
    with pytest.raises(ValueError, match=r"task='classification' is not valid"):
        detect_task(pd.Series([0, 1]), override="classification")


@pytest.mark.parametrize(
    ("values", "override", "message"),
    [
        (pd.Series(["a", "b", "c"]), "binary", "exactly 2 classes"),
        (pd.Series(["a", "b", "c"]), "regression", "numeric target"),
        (pd.Series([1, 1, 1]), "multiclass", "at least 2 classes"),
    ],
)
def test_override_inconsistent_with_data_is_refused(values: pd.Series, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detect_task(values, override=override)


@pytest.mark.parametrize("values", [pd.Series([3, 3, 3]), pd.Series([np.nan, np.nan])])
def test_target_without_two_values_is_refused(values: pd.Series) -> None:
    with pytest.raises(ValueError):
        detect_task(values)


def test_default_metrics_and_directions() -> None:
    assert {task: default_metric(task) for task in ("binary", "multiclass", "regression")} == {
        "binary": "AUC",
        "multiclass": "LogLoss",
        "regression": "RMSE",
    }
    assert DEFAULT_METRICS["binary"] == "AUC"
    assert METRICS["AUC"].greater_is_better and METRICS["AUC"].sign == 1.0
    assert not METRICS["LogLoss"].greater_is_better and METRICS["LogLoss"].sign == -1.0
    assert not METRICS["RMSE"].greater_is_better
    assert get_metric("LogLoss").scorer("multiclass") == "neg_log_loss"
    assert get_metric("RMSE", "regression").scorer("regression") == "neg_root_mean_squared_error"


def test_every_default_metric_applies_to_its_task() -> None:
    for task, name in DEFAULT_METRICS.items():
        assert task in get_metric(name, task).tasks


def test_unknown_metric_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"metric='Gini'.*'AUC'"):
        get_metric("Gini")


def test_metric_for_the_wrong_task_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'RMSE' does not apply to task 'binary'"):
        get_metric("RMSE", "binary")


def test_validate_task() -> None:
    assert validate_task("regression") == "regression"
    with pytest.raises(ValueError, match="'Binary'"):
        validate_task("Binary")


REFERENCE_CLASSIFICATION = {"Accuracy", "AUC", "Balanced Accuracy", "LogLoss", "MCC"}
REFERENCE_REGRESSION = {"Gamma Deviance", "MAE", "MAPE", "Poisson Deviance", "R Squared", "RMSE", "RMSLE"}


def test_metric_names_come_from_the_datarobot_reference_and_score_real_models() -> None:
    """Every metric is a REFERENCE.md name and its scorer runs on a fitted model of its task."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.metrics import get_scorer

    assert set(METRICS) == REFERENCE_CLASSIFICATION | REFERENCE_REGRESSION
    X = np.arange(40, dtype=float).reshape(-1, 1)
    y_class = np.array(["a", "b"] * 20)
    y_amount = np.linspace(1.0, 5.0, 40)
    for spec in METRICS.values():
        for task in spec.tasks:
            y = y_amount if task == "regression" else y_class
            model = (DummyRegressor() if task == "regression" else DummyClassifier(strategy="prior")).fit(
                X, y
            )
            value = spec.sign * get_scorer(spec.scorer(task))(model, X, y)
            assert np.isfinite(value), f"{spec.name} on {task}"
