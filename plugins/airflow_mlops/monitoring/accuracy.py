"""Accuracy metrics: DataRobot's ACCURACY_METRIC names, as a registry of formulas over pairs.

Accuracy needs row-level (prediction, actual) pairs: AUC, KS and Rate@Top5%
are rank statistics that no fixed set of sums can merge across hours. Each hour
therefore keeps its joined pairs (capped, see :mod:`.actuals`), and a window's
accuracy is a metric over the concatenated pairs of its hours. The formulas here
are written with numpy/scipy from their definitions; the tests check them
against scikit-learn on fixed data.

What a prediction is, per task (the same value the prediction log holds):

* ``binary``: the positive class's probability ``p``; the actual is a class label,
  1 when it equals the positive class (the model's last class), else 0.
  Thresholded metrics use ``p >= 0.5``.
* ``multiclass``: the predicted label (text); only label metrics apply.
* ``regression``: the predicted value.

A metric returns ``None`` when it is undefined on the data (one class only for
AUC, constant actuals for R Squared, a non-positive value for Gamma Deviance...),
never NaN or an error: a window can always be asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

__all__ = [
    "AccuracyMetric",
    "accuracy_metric_names",
    "compute_accuracy",
    "default_accuracy_metric",
    "get_accuracy_metric",
    "register_accuracy_metric",
]

TASKS = ("binary", "multiclass", "regression")
#: Rows with probabilities are clipped to [EPS, 1 - EPS] for LogLoss (as scikit-learn used to).
EPS = 1e-15
#: Tweedie power used by ``Tweedie Deviance`` / ``FVE Tweedie`` (DataRobot's default, 1.5).
TWEEDIE_POWER = 1.5

Arr = NDArray[np.float64]
MetricFn = Callable[[NDArray[np.generic], NDArray[np.generic]], float | None]


@dataclass(frozen=True)
class AccuracyMetric:
    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    fn: MetricFn


_REGISTRY: dict[str, AccuracyMetric] = {}


def register_accuracy_metric(
    name: str, *, tasks: tuple[str, ...], higher_is_better: bool, replace: bool = False
) -> Callable[[MetricFn], MetricFn]:
    """Decorator adding a metric for ``tasks``; a second registration of a name needs ``replace=True``."""
    bad = [t for t in tasks if t not in TASKS]
    if not name or bad or not tasks:
        raise ValueError(f"accuracy metric {name!r}: tasks={tasks!r} is not valid; expected some of {TASKS}")

    def decorator(fn: MetricFn) -> MetricFn:
        if name in _REGISTRY and not replace:
            raise ValueError(
                f"accuracy metric {name!r} is already registered (pass replace=True to override)"
            )
        _REGISTRY[name] = AccuracyMetric(name, tuple(tasks), higher_is_better, fn)
        return fn

    return decorator


def accuracy_metric_names(task: str | None = None) -> list[str]:
    """Registered metric names (for ``task`` only, if given), in registration order."""
    return [m.name for m in _REGISTRY.values() if task is None or task in m.tasks]


def get_accuracy_metric(name: str, task: str | None = None) -> AccuracyMetric:
    """The metric registered as ``name``; an unknown name (or one not for ``task``) lists the valid ones."""
    metric = _REGISTRY.get(str(name))
    if metric is None or (task is not None and task not in metric.tasks):
        valid = ", ".join(repr(n) for n in accuracy_metric_names(task))
        scope = f" for {task}" if task else ""
        raise ValueError(f"metric={name!r} is not a valid accuracy metric{scope}; expected one of {valid}")
    return metric


def default_accuracy_metric(task: str) -> str:
    """DataRobot's defaults: LogLoss for binary, Accuracy for multiclass, RMSE for regression."""
    return {"binary": "LogLoss", "multiclass": "Accuracy", "regression": "RMSE"}[task]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def compute_accuracy(
    task: str,
    predictions: NDArray[np.generic],
    actuals: NDArray[np.generic],
    metrics: list[str] | None = None,
) -> dict[str, float | None]:
    """Every metric of ``task`` (or those named) over the pairs; all None when there are no pairs."""
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not valid; expected one of {TASKS}")
    names = metrics if metrics is not None else accuracy_metric_names(task)
    chosen = [get_accuracy_metric(n, task) for n in names]
    if len(predictions) != len(actuals):
        raise ValueError(f"{len(predictions)} predictions but {len(actuals)} actuals")
    out: dict[str, float | None] = {}
    for metric in chosen:
        if len(predictions) == 0:
            out[metric.name] = None
            continue
        value = metric.fn(predictions, actuals)
        out[metric.name] = None if value is None else _finite(float(value))
    return out


# ---- binary (p = positive-class probability, y in {0, 1}) ------------------------------------------


def _py(p: NDArray[np.generic], y: NDArray[np.generic]) -> tuple[Arr, Arr]:
    return np.asarray(p, dtype="float64"), np.asarray(y, dtype="float64")


def _confusion(p: Arr, y: Arr) -> tuple[float, float, float, float]:
    pred = p >= 0.5
    pos = y == 1
    return (
        float(np.sum(pred & pos)),
        float(np.sum(pred & ~pos)),
        float(np.sum(~pred & ~pos)),
        float(np.sum(~pred & pos)),
    )


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def _auc(p: Arr, y: Arr) -> float | None:
    n_pos = float(np.sum(y == 1))
    n_neg = float(len(y) - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    # Mann-Whitney U with average ranks for ties: P(score_pos > score_neg) + 0.5 P(tie).
    ranks = rankdata(p)
    return float((np.sum(ranks[y == 1]) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _logloss(p: Arr, y: Arr) -> float:
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


@register_accuracy_metric("Accuracy", tasks=("binary", "multiclass"), higher_is_better=True)
def accuracy(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Share of rows whose predicted class (``p >= 0.5``, or the label) equals the actual."""
    if p.dtype.kind in "OUS":
        return float(np.mean(p.astype(str) == y.astype(str)))
    pf, yf = _py(p, y)
    return float(np.mean((pf >= 0.5) == (yf == 1)))


@register_accuracy_metric("AUC", tasks=("binary",), higher_is_better=True)
def auc(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg), ties count one half)."""
    return _auc(*_py(p, y))


def _labels_balanced(p: NDArray[np.generic], y: NDArray[np.generic]) -> tuple[float, float, float]:
    """Macro recall over the actual classes, macro precision and macro F1 over all labels."""
    ps, ys = p.astype(str), y.astype(str)
    labels = sorted(set(ys) | set(ps))
    recalls, precisions, f1s = [], [], []
    for label in labels:
        tp = float(np.sum((ps == label) & (ys == label)))
        actual = float(np.sum(ys == label))
        predicted = float(np.sum(ps == label))
        recall = tp / actual if actual else 0.0
        precision = tp / predicted if predicted else 0.0
        if actual:
            recalls.append(recall)
        precisions.append(precision)
        f1s.append(0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision))
    return float(np.mean(recalls)), float(np.mean(precisions)), float(np.mean(f1s))


@register_accuracy_metric("Balanced Accuracy", tasks=("binary", "multiclass"), higher_is_better=True)
def balanced_accuracy(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean recall over the classes present in the actuals."""
    if p.dtype.kind in "OUS":
        return _labels_balanced(p, y)[0]
    tp, fp, tn, fn = _confusion(*_py(p, y))
    recalls = [r for r in (_ratio(tp, tp + fn), _ratio(tn, tn + fp)) if r is not None]
    return float(np.mean(recalls))


@register_accuracy_metric("FVE Binomial", tasks=("binary",), higher_is_better=True)
def fve_binomial(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - LogLoss(model) / LogLoss(base rate): the share of binomial deviance explained."""
    pf, yf = _py(p, y)
    if yf.mean() in (0.0, 1.0):  # one class only: the base rate explains everything
        return None
    null = _logloss(np.full_like(yf, yf.mean()), yf)
    return 1.0 - _logloss(pf, yf) / null


@register_accuracy_metric("Gini Norm", tasks=("binary",), higher_is_better=True)
def gini_norm(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Normalised Gini: 2 AUC - 1."""
    value = _auc(*_py(p, y))
    return None if value is None else 2 * value - 1


@register_accuracy_metric("Kolmogorov-Smirnov", tasks=("binary",), higher_is_better=True)
def kolmogorov_smirnov(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Largest gap between the score CDFs of actual positives and negatives (max |TPR - FPR|)."""
    pf, yf = _py(p, y)
    pos, neg = np.sort(pf[yf == 1]), np.sort(pf[yf != 1])
    if pos.size == 0 or neg.size == 0:
        return None
    grid = np.unique(pf)
    cdf_pos = np.searchsorted(pos, grid, side="right") / pos.size
    cdf_neg = np.searchsorted(neg, grid, side="right") / neg.size
    return float(np.max(np.abs(cdf_pos - cdf_neg)))


@register_accuracy_metric("LogLoss", tasks=("binary",), higher_is_better=False)
def logloss(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15]."""
    return _logloss(*_py(p, y))


def _rate_at_top(p: NDArray[np.generic], y: NDArray[np.generic], share: float) -> float | None:
    pf, yf = _py(p, y)
    k = max(1, math.ceil(share * len(pf)))
    top = np.argsort(-pf, kind="stable")[:k]
    return float(np.mean(yf[top] == 1))


@register_accuracy_metric("Rate@Top5%", tasks=("binary",), higher_is_better=True)
def rate_at_top5(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Share of positives among the ceil(5% n) highest-scored rows (ties: first logged first)."""
    return _rate_at_top(p, y, 0.05)


@register_accuracy_metric("Rate@Top10%", tasks=("binary",), higher_is_better=True)
def rate_at_top10(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Share of positives among the ceil(10% n) highest-scored rows."""
    return _rate_at_top(p, y, 0.10)


@register_accuracy_metric("TPR", tasks=("binary", "multiclass"), higher_is_better=True)
def tpr(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Recall TP / (TP + FN) at 0.5 (multiclass: macro recall)."""
    if p.dtype.kind in "OUS":
        return _labels_balanced(p, y)[0]
    tp, _fp, _tn, fn = _confusion(*_py(p, y))
    return _ratio(tp, tp + fn)


@register_accuracy_metric("PPV", tasks=("binary", "multiclass"), higher_is_better=True)
def ppv(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Precision TP / (TP + FP) at 0.5 (multiclass: macro precision); None with no positive call."""
    if p.dtype.kind in "OUS":
        return _labels_balanced(p, y)[1]
    tp, fp, _tn, _fn = _confusion(*_py(p, y))
    return _ratio(tp, tp + fp)


@register_accuracy_metric("F1", tasks=("binary", "multiclass"), higher_is_better=True)
def f1(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """2 TP / (2 TP + FP + FN) at 0.5 (multiclass: macro F1)."""
    if p.dtype.kind in "OUS":
        return _labels_balanced(p, y)[2]
    tp, fp, _tn, fn = _confusion(*_py(p, y))
    return _ratio(2 * tp, 2 * tp + fp + fn)


@register_accuracy_metric("MCC", tasks=("binary", "multiclass"), higher_is_better=True)
def mcc(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Matthews correlation (multiclass: Gorodkin's R_K); 0 when a marginal is constant."""
    if p.dtype.kind in "OUS":
        ps, ys = p.astype(str), y.astype(str)
        labels = sorted(set(ys) | set(ps))
        index = {label: i for i, label in enumerate(labels)}
        c = np.zeros((len(labels), len(labels)))
        np.add.at(c, (np.array([index[v] for v in ys]), np.array([index[v] for v in ps])), 1)
        t, pk, n, correct = c.sum(axis=1), c.sum(axis=0), c.sum(), np.trace(c)
        denominator = math.sqrt((n * n - pk @ pk) * (n * n - t @ t))
        return 0.0 if denominator == 0 else float((correct * n - t @ pk) / denominator)
    tp, fp, tn, fn = _confusion(*_py(p, y))
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denominator == 0 else (tp * tn - fp * fn) / denominator


# ---- regression -------------------------------------------------------------------------------------


def _poisson_dev(y: Arr, mu: Arr) -> float | None:
    if np.any(mu <= 0) or np.any(y < 0):
        return None
    term = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return float(np.mean(2 * (term - (y - mu))))


def _gamma_dev(y: Arr, mu: Arr) -> float | None:
    if np.any(mu <= 0) or np.any(y <= 0):
        return None
    return float(np.mean(2 * (np.log(mu / y) + y / mu - 1)))


def _tweedie_dev(y: Arr, mu: Arr, power: float = TWEEDIE_POWER) -> float | None:
    if np.any(mu <= 0) or np.any(y < 0):
        return None
    a = np.power(np.maximum(y, 0), 2 - power) / ((1 - power) * (2 - power))
    b = y * np.power(mu, 1 - power) / (1 - power)
    c = np.power(mu, 2 - power) / (2 - power)
    return float(np.mean(2 * (a - b + c)))


def _fve(
    dev: Callable[[Arr, Arr], float | None], p: NDArray[np.generic], y: NDArray[np.generic]
) -> float | None:
    mu, yf = _py(p, y)
    model = dev(yf, mu)
    null = dev(yf, np.full_like(yf, yf.mean()))
    if model is None or null is None or null <= 0:
        return None
    return 1.0 - model / null


@register_accuracy_metric("Gamma Deviance", tasks=("regression",), higher_is_better=False)
def gamma_deviance(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean 2 (ln(mu/y) + y/mu - 1); needs y > 0 and mu > 0."""
    mu, yf = _py(p, y)
    return _gamma_dev(yf, mu)


@register_accuracy_metric("FVE Gamma", tasks=("regression",), higher_is_better=True)
def fve_gamma(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - Gamma deviance / Gamma deviance of predicting the mean actual."""
    return _fve(_gamma_dev, p, y)


@register_accuracy_metric("FVE Poisson", tasks=("regression",), higher_is_better=True)
def fve_poisson(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - Poisson deviance / Poisson deviance of predicting the mean actual."""
    return _fve(_poisson_dev, p, y)


@register_accuracy_metric("FVE Tweedie", tasks=("regression",), higher_is_better=True)
def fve_tweedie(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - Tweedie (power 1.5) deviance / that of predicting the mean actual."""
    return _fve(_tweedie_dev, p, y)


@register_accuracy_metric("MAD", tasks=("regression",), higher_is_better=False)
def mad(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Median absolute deviation of the predictions from the actuals: median |y - p|."""
    mu, yf = _py(p, y)
    return float(np.median(np.abs(yf - mu)))


@register_accuracy_metric("MAE", tasks=("regression",), higher_is_better=False)
def mae(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean |y - p|."""
    mu, yf = _py(p, y)
    return float(np.mean(np.abs(yf - mu)))


@register_accuracy_metric("MAPE", tasks=("regression",), higher_is_better=False)
def mape(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """100 * mean |y - p| / |y| over rows with y != 0 (a percentage; None if every y is 0)."""
    mu, yf = _py(p, y)
    keep = yf != 0
    if not keep.any():
        return None
    return float(100.0 * np.mean(np.abs(yf[keep] - mu[keep]) / np.abs(yf[keep])))


@register_accuracy_metric("Poisson Deviance", tasks=("regression",), higher_is_better=False)
def poisson_deviance(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean 2 (y ln(y/mu) - (y - mu)); needs y >= 0 and mu > 0."""
    mu, yf = _py(p, y)
    return _poisson_dev(yf, mu)


@register_accuracy_metric("R Squared", tasks=("regression",), higher_is_better=True)
def r_squared(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - SS_res / SS_tot; None when the actuals are constant."""
    mu, yf = _py(p, y)
    total = float(np.sum((yf - yf.mean()) ** 2))
    return None if total == 0 else 1.0 - float(np.sum((yf - mu) ** 2)) / total


@register_accuracy_metric("RMSE", tasks=("regression",), higher_is_better=False)
def rmse(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """sqrt(mean((y - p)^2))."""
    mu, yf = _py(p, y)
    return float(np.sqrt(np.mean((yf - mu) ** 2)))


@register_accuracy_metric("RMSLE", tasks=("regression",), higher_is_better=False)
def rmsle(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """sqrt(mean((ln(1+p) - ln(1+y))^2)); needs p, y > -1."""
    mu, yf = _py(p, y)
    if np.any(mu <= -1) or np.any(yf <= -1):
        return None
    return float(np.sqrt(np.mean((np.log1p(mu) - np.log1p(yf)) ** 2)))


@register_accuracy_metric("Tweedie Deviance", tasks=("regression",), higher_is_better=False)
def tweedie_deviance(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean Tweedie deviance with power 1.5; needs y >= 0 and mu > 0."""
    mu, yf = _py(p, y)
    return _tweedie_dev(yf, mu)
