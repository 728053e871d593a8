"""Accuracy formulas against scikit-learn / scipy on fixed data, and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn import metrics as skm

from airflow_mlops.monitoring.accuracy import accuracy_metric_names, compute_accuracy, get_accuracy_metric

RNG = np.random.default_rng(7)
Y_BIN = RNG.integers(0, 2, 400).astype(float)
P_BIN = np.clip(0.35 * Y_BIN + RNG.uniform(0, 0.65, 400), 0.001, 0.999)
Y_REG = RNG.gamma(2.0, 3.0, 300) + 0.1
P_REG = np.clip(Y_REG + RNG.normal(0, 1.0, 300), 0.05, None)

CLASSIFICATION = [
    "Accuracy", "AUC", "Balanced Accuracy", "FVE Binomial", "Gini Norm", "Kolmogorov-Smirnov",
    "LogLoss", "Rate@Top5%", "Rate@Top10%", "TPR", "PPV", "F1", "MCC",
]  # fmt: skip
REGRESSION = [
    "Gamma Deviance", "FVE Gamma", "FVE Poisson", "FVE Tweedie", "MAD", "MAE", "MAPE",
    "Poisson Deviance", "R Squared", "RMSE", "RMSLE", "Tweedie Deviance",
]  # fmt: skip


def test_every_reference_metric_is_registered() -> None:
    assert set(accuracy_metric_names("binary")) == set(CLASSIFICATION)
    assert set(accuracy_metric_names("regression")) == set(REGRESSION)


def _top_rate(p: np.ndarray, y: np.ndarray, share: float) -> float:
    k = math.ceil(share * len(p))
    return float(y[np.argsort(-p, kind="stable")[:k]].mean())


def test_binary_metrics_equal_sklearn_and_scipy() -> None:
    got = compute_accuracy("binary", P_BIN, Y_BIN)
    label = (P_BIN >= 0.5).astype(int)
    null = skm.log_loss(Y_BIN, np.full_like(Y_BIN, Y_BIN.mean()))
    pos, neg = P_BIN[Y_BIN == 1], P_BIN[Y_BIN == 0]
    want = {
        "Accuracy": skm.accuracy_score(Y_BIN, label),
        "AUC": skm.roc_auc_score(Y_BIN, P_BIN),
        "Balanced Accuracy": skm.balanced_accuracy_score(Y_BIN, label),
        "FVE Binomial": 1 - skm.log_loss(Y_BIN, P_BIN) / null,
        "Gini Norm": 2 * skm.roc_auc_score(Y_BIN, P_BIN) - 1,
        "Kolmogorov-Smirnov": ks_2samp(pos, neg).statistic,
        "LogLoss": skm.log_loss(Y_BIN, P_BIN),
        "Rate@Top5%": _top_rate(P_BIN, Y_BIN, 0.05),
        "Rate@Top10%": _top_rate(P_BIN, Y_BIN, 0.10),
        "TPR": skm.recall_score(Y_BIN, label),
        "PPV": skm.precision_score(Y_BIN, label),
        "F1": skm.f1_score(Y_BIN, label),
        "MCC": skm.matthews_corrcoef(Y_BIN, label),
    }
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_regression_metrics_equal_sklearn() -> None:
    got = compute_accuracy("regression", P_REG, Y_REG)
    mean = np.full_like(Y_REG, Y_REG.mean())

    def fve(dev: object, **kw: float) -> float:
        return 1 - dev(Y_REG, P_REG, **kw) / dev(Y_REG, mean, **kw)  # type: ignore[operator]

    want = {
        "Gamma Deviance": skm.mean_gamma_deviance(Y_REG, P_REG),
        "FVE Gamma": fve(skm.mean_gamma_deviance),
        "FVE Poisson": fve(skm.mean_poisson_deviance),
        "FVE Tweedie": fve(skm.mean_tweedie_deviance, power=1.5),
        "MAD": skm.median_absolute_error(Y_REG, P_REG),
        "MAE": skm.mean_absolute_error(Y_REG, P_REG),
        "MAPE": 100 * skm.mean_absolute_percentage_error(Y_REG, P_REG),
        "Poisson Deviance": skm.mean_poisson_deviance(Y_REG, P_REG),
        "R Squared": skm.r2_score(Y_REG, P_REG),
        "RMSE": math.sqrt(skm.mean_squared_error(Y_REG, P_REG)),
        "RMSLE": math.sqrt(skm.mean_squared_log_error(Y_REG, P_REG)),
        "Tweedie Deviance": skm.mean_tweedie_deviance(Y_REG, P_REG, power=1.5),
    }
    assert got == pytest.approx(want, rel=1e-9)


def test_multiclass_label_metrics_equal_sklearn() -> None:
    y = np.array(list("abcabcabccaab"), dtype=object)
    p = np.array(list("abcaacbbccaba"), dtype=object)
    got = compute_accuracy("multiclass", p, y)
    assert got["Accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert got["Balanced Accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p))
    assert got["F1"] == pytest.approx(skm.f1_score(y, p, average="macro"))
    assert got["MCC"] == pytest.approx(skm.matthews_corrcoef(y, p))


def test_empty_and_degenerate_windows_give_none_not_errors() -> None:
    assert set(compute_accuracy("binary", np.zeros(0), np.zeros(0)).values()) == {None}
    one_class = compute_accuracy("binary", np.array([0.2, 0.9]), np.array([1.0, 1.0]))
    assert one_class["AUC"] is None and one_class["Kolmogorov-Smirnov"] is None
    assert one_class["FVE Binomial"] is None and one_class["TPR"] == 0.5
    constant = compute_accuracy("regression", np.array([1.0, 2.0]), np.array([3.0, 3.0]))
    assert constant["R Squared"] is None and constant["RMSE"] == pytest.approx(math.sqrt(2.5))
    negative = compute_accuracy("regression", np.array([-1.0, 2.0]), np.array([0.0, 3.0]))
    assert negative["Gamma Deviance"] is None and negative["Poisson Deviance"] is None


def test_unknown_metric_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'AUCC'.*'LogLoss'"):
        get_accuracy_metric("AUCC", "binary")
    with pytest.raises(ValueError, match="for regression"):
        get_accuracy_metric("AUC", "regression")
