"""Accuracy metrics against scikit-learn / scipy on random data, the hand-written ones against their
formula on examples checkable by hand, and the edge cases a monitoring window meets."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from airflow_mlops.automl.task import METRICS, validate_task
from airflow_mlops.monitoring.accuracy import accuracy_metric_names, compute_accuracy, get_accuracy_metric

CLASSIFICATION = [
    "Accuracy", "AUC", "Balanced Accuracy", "FVE Binomial", "Gini Norm", "Kolmogorov-Smirnov",
    "LogLoss", "Rate@Top5%", "Rate@Top10%", "TPR", "PPV", "F1", "MCC",
]  # fmt: skip
MULTICLASS = ["Accuracy", "Balanced Accuracy", "TPR", "PPV", "F1", "MCC"]
REGRESSION = [
    "Gamma Deviance", "FVE Gamma", "FVE Poisson", "FVE Tweedie", "MAD", "MAE", "MAPE",
    "Poisson Deviance", "R Squared", "RMSE", "RMSLE", "Tweedie Deviance",
]  # fmt: skip
SEEDS = [7, 11, 2024]


def binary_data(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Positive-class scores with some signal, and 0/1 actuals."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    return np.clip(0.35 * y + rng.uniform(0, 0.65, n), 0.001, 0.999), y


def regression_data(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Positive predictions and actuals, so every deviance is defined."""
    rng = np.random.default_rng(seed)
    y = rng.gamma(2.0, 3.0, n) + 0.1
    return np.clip(y + rng.normal(0, 1.0, n), 0.05, None), y


def multiclass_data(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Text labels; 'e' is sometimes predicted but never actual, as in a small window."""
    rng = np.random.default_rng(seed)
    y = rng.choice(list("abcd"), n)
    p = np.where(rng.uniform(size=n) < 0.6, y, rng.choice(list("abcde"), n))
    return p.astype(object), y.astype(object)


def test_every_reference_metric_is_registered_in_order() -> None:
    # Order matters: the first name is what accuracy over time shows when no metric is asked for.
    assert accuracy_metric_names("binary") == CLASSIFICATION
    assert accuracy_metric_names("multiclass") == MULTICLASS
    assert accuracy_metric_names("regression") == REGRESSION


def _top_rate(p: np.ndarray, y: np.ndarray, share: float) -> float:
    k = math.ceil(share * len(p))
    return float(y[np.argsort(-p, kind="stable")[:k]].mean())


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_metrics_equal_sklearn_and_scipy(seed: int) -> None:
    p, y = binary_data(seed)
    got = compute_accuracy("binary", p, y)
    label = (p >= 0.5).astype(int)
    null = skm.log_loss(y, np.full_like(y, y.mean()))
    want = {
        "Accuracy": skm.accuracy_score(y, label),
        "AUC": skm.roc_auc_score(y, p),
        "Balanced Accuracy": skm.balanced_accuracy_score(y, label),
        "FVE Binomial": 1 - skm.log_loss(y, p) / null,
        "Gini Norm": 2 * skm.roc_auc_score(y, p) - 1,
        "Kolmogorov-Smirnov": ks_2samp(p[y == 1], p[y == 0]).statistic,
        "LogLoss": skm.log_loss(y, p),
        "Rate@Top5%": _top_rate(p, y, 0.05),
        "Rate@Top10%": _top_rate(p, y, 0.10),
        "TPR": skm.recall_score(y, label),
        "PPV": skm.precision_score(y, label),
        "F1": skm.f1_score(y, label),
        "MCC": skm.matthews_corrcoef(y, label),
    }
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics_equal_sklearn(seed: int) -> None:
    p, y = regression_data(seed)
    got = compute_accuracy("regression", p, y)
    mean = np.full_like(y, y.mean())

    def fve(dev: Any, **kw: float) -> float:
        return float(1 - dev(y, p, **kw) / dev(y, mean, **kw))

    want = {
        "Gamma Deviance": skm.mean_gamma_deviance(y, p),
        "FVE Gamma": fve(skm.mean_gamma_deviance),
        "FVE Poisson": fve(skm.mean_poisson_deviance),
        "FVE Tweedie": fve(skm.mean_tweedie_deviance, power=1.5),
        "MAD": skm.median_absolute_error(y, p),
        "MAE": skm.mean_absolute_error(y, p),
        "MAPE": 100 * skm.mean_absolute_percentage_error(y, p),
        "Poisson Deviance": skm.mean_poisson_deviance(y, p),
        "R Squared": skm.r2_score(y, p),
        "RMSE": math.sqrt(skm.mean_squared_error(y, p)),
        "RMSLE": math.sqrt(skm.mean_squared_log_error(y, p)),
        "Tweedie Deviance": skm.mean_tweedie_deviance(y, p, power=1.5),
    }
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_label_metrics_equal_sklearn(seed: int) -> None:
    p, y = multiclass_data(seed)
    got = compute_accuracy("multiclass", p, y)
    want = {
        "Accuracy": skm.accuracy_score(y, p),
        "Balanced Accuracy": skm.balanced_accuracy_score(y, p),
        "TPR": skm.balanced_accuracy_score(y, p),  # macro recall over the actual classes
        "PPV": skm.precision_score(y, p, average="macro", zero_division=0),
        "F1": skm.f1_score(y, p, average="macro", zero_division=0),
        "MCC": skm.matthews_corrcoef(y, p),
    }
    assert got == pytest.approx(want, rel=1e-9)


def test_multiclass_on_a_hand_checkable_window() -> None:
    y = np.array(list("abcabcabccaab"), dtype=object)
    p = np.array(list("abcaacbbccaba"), dtype=object)
    got = compute_accuracy("multiclass", p, y)
    # a: 5 actual, 3 right; b: 4 actual, 2 right; c: 4 actual, 4 right.
    assert got["Accuracy"] == pytest.approx(9 / 13)
    assert got["Balanced Accuracy"] == pytest.approx((3 / 5 + 2 / 4 + 4 / 4) / 3)


def test_rate_at_top_is_the_positive_share_of_the_top_scored_rows() -> None:
    # 20 rows: top 5% = 1 row (score 0.9, positive), top 10% = 2 rows (0.9 and 0.8, one positive).
    p = np.array([0.1] * 18 + [0.9, 0.8])
    y = np.array([1.0] * 18 + [1.0, 0.0])
    got = compute_accuracy("binary", p, y, ["Rate@Top5%", "Rate@Top10%"])
    assert got == {"Rate@Top5%": 1.0, "Rate@Top10%": 0.5}
    # 30 rows: ceil(1.5) = 2 rows for 5%, ceil(3) = 3 rows for 10%.
    p = np.linspace(0.0, 1.0, 30)
    y = np.zeros(30)
    y[[29, 27]] = 1.0  # the highest and the third highest
    got = compute_accuracy("binary", p, y, ["Rate@Top5%", "Rate@Top10%"])
    assert got == pytest.approx({"Rate@Top5%": 1 / 2, "Rate@Top10%": 2 / 3})


def test_rate_at_top_takes_at_least_one_row_and_breaks_ties_by_log_order() -> None:
    # 3 rows: 5% of 3 is 0.15 rows, rounded up to 1; the two tied top scores are taken first-logged first.
    tied = compute_accuracy("binary", np.array([0.9, 0.9, 0.1]), np.array([0.0, 1.0, 1.0]), ["Rate@Top5%"])
    assert tied == {"Rate@Top5%": 0.0}
    swapped = compute_accuracy("binary", np.array([0.9, 0.9, 0.1]), np.array([1.0, 0.0, 0.0]), ["Rate@Top5%"])
    assert swapped == {"Rate@Top5%": 1.0}


def test_mape_leaves_out_rows_whose_actual_is_zero() -> None:
    # Rows 2 and 3 only: |4 - 5| / 4 = 0.25 and |2 - 3| / 2 = 0.5, mean 0.375, as a percentage.
    got = compute_accuracy("regression", np.array([1.0, 5.0, 3.0]), np.array([0.0, 4.0, 2.0]), ["MAPE"])
    assert got["MAPE"] == pytest.approx(37.5)
    assert compute_accuracy("regression", np.array([1.0, 2.0]), np.zeros(2), ["MAPE"]) == {"MAPE": None}


def test_empty_and_degenerate_windows_give_none_not_errors() -> None:
    assert set(compute_accuracy("binary", np.zeros(0), np.zeros(0)).values()) == {None}
    one_class = compute_accuracy("binary", np.array([0.2, 0.9]), np.array([1.0, 1.0]))
    assert one_class["AUC"] is None and one_class["Kolmogorov-Smirnov"] is None
    assert one_class["FVE Binomial"] is None and one_class["Gini Norm"] is None
    assert one_class["TPR"] == 0.5 and one_class["Balanced Accuracy"] == 0.5
    assert one_class["LogLoss"] == pytest.approx(-(math.log(0.2) + math.log(0.9)) / 2)
    negatives = compute_accuracy("binary", np.array([0.2, 0.3]), np.array([0.0, 0.0]))
    assert negatives["TPR"] is None and negatives["PPV"] is None and negatives["F1"] is None
    assert negatives["MCC"] == 0.0 and negatives["Accuracy"] == 1.0
    constant = compute_accuracy("regression", np.array([1.0, 2.0]), np.array([3.0, 3.0]))
    assert constant["R Squared"] is None and constant["RMSE"] == pytest.approx(math.sqrt(2.5))
    assert {constant[name] for name in ("FVE Gamma", "FVE Poisson", "FVE Tweedie")} == {None}
    negative = compute_accuracy("regression", np.array([-1.0, 2.0]), np.array([0.0, 3.0]))
    assert negative["Gamma Deviance"] is None and negative["Poisson Deviance"] is None
    assert negative["Tweedie Deviance"] is None and negative["R Squared"] == pytest.approx(5 / 9)
    below_minus_one = compute_accuracy("regression", np.array([-2.0, 2.0]), np.array([-3.0, 3.0]))
    assert below_minus_one["RMSLE"] is None and below_minus_one["MAE"] == 1.0
    one_label = compute_accuracy("multiclass", np.array(["a"], dtype=object), np.array(["a"], dtype=object))
    assert one_label == {name: (0.0 if name == "MCC" else 1.0) for name in MULTICLASS}


def test_constant_actuals_whose_mean_rounds_are_still_constant() -> None:
    # mean([0.1, 0.1, 0.1]) is 0.10000000000000002: a sum of squares about it is not 0.
    got = compute_accuracy("regression", np.array([0.2, 0.1, 0.3]), np.full(3, 0.1))
    assert got["R Squared"] is None and got["FVE Poisson"] is None and got["FVE Tweedie"] is None
    # All-zero actuals: the mean (0) is outside the Poisson deviance's domain, not an error.
    zeros = compute_accuracy("regression", np.array([1.0, 2.0]), np.zeros(2))
    assert zeros["FVE Poisson"] is None and zeros["Poisson Deviance"] == pytest.approx(3.0)


def test_a_non_finite_prediction_leaves_every_metric_undefined() -> None:
    for task, p, y in [
        ("binary", np.array([np.nan, 0.8]), np.array([0.0, 1.0])),
        ("regression", np.array([1.0, np.inf]), np.array([1.0, 2.0])),
    ]:
        assert set(compute_accuracy(task, p, y).values()) == {None}


def test_degenerate_windows_raise_no_warning() -> None:
    """scikit-learn warns on one class, a single label or constant actuals; a window is checked first."""
    windows = [
        ("binary", np.array([0.2, 0.9]), np.array([1.0, 1.0])),
        ("binary", np.array([0.2, 0.3]), np.array([0.0, 0.0])),
        ("binary", np.array([0.7]), np.array([0.0])),
        ("multiclass", np.array(["a", "b"], dtype=object), np.array(["c", "c"], dtype=object)),
        ("multiclass", np.array(["a"], dtype=object), np.array(["a"], dtype=object)),
        ("regression", np.array([1.0]), np.array([3.0])),
        ("regression", np.array([1.0, 2.0]), np.array([3.0, 3.0])),
        ("regression", np.array([1.0, 2.0]), np.zeros(2)),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = [compute_accuracy(task, p, y) for task, p, y in windows]
    assert [len(r) for r in results] == [len(accuracy_metric_names(task)) for task, _p, _y in windows]


class _FixedClassifier(ClassifierMixin, BaseEstimator):
    """A 'model' whose outputs are given, so an AutoML scorer can score known predictions."""

    def __init__(self, proba: np.ndarray, classes: np.ndarray) -> None:
        self.proba = proba
        self.classes = classes

    def fit(self, X: Any, y: Any) -> _FixedClassifier:
        self.classes_ = self.classes
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.proba

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.proba, axis=1)]


class _FixedRegressor(RegressorMixin, BaseEstimator):
    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def fit(self, X: Any, y: Any) -> _FixedRegressor:
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.values


def _fixed_model(task: str) -> tuple[np.ndarray, np.ndarray, _FixedClassifier | _FixedRegressor, np.ndarray]:
    """(predictions, actuals) as monitoring reads them, and a model giving them with AutoML's y."""
    if task == "binary":
        p, y = binary_data(5)
        return p, y, _FixedClassifier(np.column_stack([1 - p, p]), np.array([0, 1])), y.astype(int)
    if task == "multiclass":
        p, y = multiclass_data(5)
        classes = np.unique(np.concatenate([p, y]).astype(str))
        one_hot = np.eye(len(classes))[np.searchsorted(classes, p.astype(str))]
        return p, y, _FixedClassifier(one_hot, classes), y.astype(str)
    p, y = regression_data(5)
    return p, y, _FixedRegressor(p), y


#: AutoML reports MAPE as scikit-learn's fraction, monitoring as DataRobot's percentage.
UNITS = {"MAPE": 100.0}


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # AutoML's scorer warns
@pytest.mark.parametrize(
    ("name", "task"),
    [
        (name, task)
        for name, spec in METRICS.items()
        for task in spec.tasks
        if name in accuracy_metric_names(task)
    ],
)
def test_monitoring_and_automl_score_a_shared_name_alike(name: str, task: str) -> None:
    """One definition per name: AutoML's scorer and the monitoring metric agree on the same predictions."""
    spec = METRICS[name]
    p, y, model, truth = _fixed_model(task)
    X = np.zeros((len(p), 1))
    scorer = skm.get_scorer(spec.scorer(validate_task(task)))
    automl = spec.sign * scorer(model.fit(X, truth), X, truth)
    monitored = compute_accuracy(task, p, y, [name])[name]
    assert monitored == pytest.approx(UNITS.get(name, 1.0) * automl, rel=1e-9)


def test_unknown_metric_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'AUCC'.*'LogLoss'"):
        get_accuracy_metric("AUCC", "binary")
    with pytest.raises(ValueError, match="for regression"):
        get_accuracy_metric("AUC", "regression")
