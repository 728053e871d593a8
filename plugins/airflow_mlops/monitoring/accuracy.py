"""Accuracy metrics: DataRobot's ACCURACY_METRIC names, as a registry of functions over pairs.

Accuracy needs row-level (prediction, actual) pairs: AUC, KS and Rate@Top5%
are rank statistics that no fixed set of sums can merge across hours. Each hour
therefore keeps its joined pairs (capped, see :mod:`.actuals`), and a window's
accuracy is a metric over the concatenated pairs of its hours.

Every metric scikit-learn has is computed by scikit-learn (``sklearn.metrics``;
Gini Norm and Kolmogorov-Smirnov are read off its AUC and ROC curve). AutoML
scores the same names with scikit-learn's scorers (:mod:`airflow_mlops.automl.task`);
the two packages are siblings, so neither imports the other, and a test checks
that they agree on every name they share (MAPE is a percentage here, as DataRobot
shows it, and scikit-learn's fraction on AutoML's leaderboard). This module only
adds what a monitoring window needs around the calls: DataRobot's names and
directions, the threshold and positive class, and ``None`` where a metric is
undefined (checked before the call, so scikit-learn never warns or raises on a
degenerate window). Only Rate@Top5% / Rate@Top10%, which scikit-learn lacks, are
written here.

What a prediction is, per task (the same value the prediction log holds):

* ``binary``: the positive class's probability ``p``; the actual is a class label,
  1 when it equals the positive class (the model's last class), else 0.
  Thresholded metrics use ``p >= 0.5``.
* ``multiclass``: the predicted label (text); only label metrics apply.
* ``regression``: the predicted value.

A metric returns ``None`` when it is undefined on the data (one class only for
AUC, constant actuals for R Squared, a non-positive value for Gamma Deviance, a
non-finite prediction...), never NaN or an error: a window can always be asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn import metrics as skm

__all__ = [
    "AccuracyMetric",
    "accuracy_metric_names",
    "compute_accuracy",
    "default_accuracy_metric",
    "get_accuracy_metric",
    "register_accuracy_metric",
]

TASKS = ("binary", "multiclass", "regression")
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


def _non_finite(values: NDArray[np.generic]) -> bool:
    values = np.asarray(values)
    return values.dtype.kind == "f" and not bool(np.all(np.isfinite(values)))


def compute_accuracy(
    task: str,
    predictions: NDArray[np.generic],
    actuals: NDArray[np.generic],
    metrics: list[str] | None = None,
) -> dict[str, float | None]:
    """Every metric of ``task`` (or those named) over the pairs.

    All None when there are no pairs, or when a prediction or actual is NaN or
    infinite: scikit-learn refuses those, and a model that emits NaN has no
    accuracy to report (NaN would leave most metrics NaN anyway).
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not valid; expected one of {TASKS}")
    names = metrics if metrics is not None else accuracy_metric_names(task)
    chosen = [get_accuracy_metric(n, task) for n in names]
    if len(predictions) != len(actuals):
        raise ValueError(f"{len(predictions)} predictions but {len(actuals)} actuals")
    if len(predictions) == 0 or _non_finite(predictions) or _non_finite(actuals):
        return {metric.name: None for metric in chosen}
    out: dict[str, float | None] = {}
    for metric in chosen:
        value = metric.fn(predictions, actuals)
        out[metric.name] = None if value is None else _finite(float(value))
    return out


# ---- classification ---------------------------------------------------------------------------------
# Binary: p = positive-class probability, y = 1 for the positive class. Multiclass: text labels.


def _is_labels(p: NDArray[np.generic]) -> bool:
    return p.dtype.kind in "OUS"


def _binary(p: NDArray[np.generic], y: NDArray[np.generic]) -> tuple[NDArray[np.int8], Arr]:
    """The actuals as 0/1 and the scores as floats, in scikit-learn's (y_true, y_score) order."""
    return (np.asarray(y, dtype="float64") == 1).astype(np.int8), np.asarray(p, dtype="float64")


def _classes(
    p: NDArray[np.generic], y: NDArray[np.generic]
) -> tuple[NDArray[np.generic], NDArray[np.generic]]:
    """(actual class, predicted class): text labels as text, binary scores called positive at 0.5."""
    if _is_labels(p):
        return y.astype(str), p.astype(str)
    truth, score = _binary(p, y)
    return truth, (score >= 0.5).astype(np.int8)


def _both_classes(truth: NDArray[np.int8]) -> bool:
    return 0 < int(truth.sum()) < len(truth)


@register_accuracy_metric("Accuracy", tasks=("binary", "multiclass"), higher_is_better=True)
def accuracy(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Share of rows whose predicted class (``p >= 0.5``, or the label) equals the actual."""
    return float(skm.accuracy_score(*_classes(p, y)))


@register_accuracy_metric("AUC", tasks=("binary",), higher_is_better=True)
def auc(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Area under the ROC curve; None with one class only (scikit-learn would warn and give NaN)."""
    truth, score = _binary(p, y)
    return float(skm.roc_auc_score(truth, score)) if _both_classes(truth) else None


def _recall_over_actual_classes(p: NDArray[np.generic], y: NDArray[np.generic]) -> float:
    """Macro recall over the classes present in the actuals: ``balanced_accuracy_score``'s definition.

    Called as ``recall_score`` with those classes as ``labels`` because
    ``balanced_accuracy_score`` warns on every window where a class is predicted
    but never actual, which a small window often is; the value is the same.
    """
    truth, called = _classes(p, y)
    return float(skm.recall_score(truth, called, labels=np.unique(truth), average="macro"))


@register_accuracy_metric("Balanced Accuracy", tasks=("binary", "multiclass"), higher_is_better=True)
def balanced_accuracy(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean recall over the classes present in the actuals."""
    return _recall_over_actual_classes(p, y)


@register_accuracy_metric("FVE Binomial", tasks=("binary",), higher_is_better=True)
def fve_binomial(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - LogLoss(model) / LogLoss(base rate), scikit-learn's D² log-loss score; None with one class."""
    truth, score = _binary(p, y)
    return float(skm.d2_log_loss_score(truth, score, labels=[0, 1])) if _both_classes(truth) else None


@register_accuracy_metric("Gini Norm", tasks=("binary",), higher_is_better=True)
def gini_norm(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Normalised Gini: 2 AUC - 1."""
    value = auc(p, y)
    return None if value is None else 2 * value - 1


@register_accuracy_metric("Kolmogorov-Smirnov", tasks=("binary",), higher_is_better=True)
def kolmogorov_smirnov(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Largest gap between the score CDFs of actual positives and negatives: max |TPR - FPR| on the ROC."""
    truth, score = _binary(p, y)
    if not _both_classes(truth):
        return None
    fpr, tpr, _thresholds = skm.roc_curve(truth, score, drop_intermediate=False)
    return float(np.max(np.abs(tpr - fpr)))


@register_accuracy_metric("LogLoss", tasks=("binary",), higher_is_better=False)
def logloss(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean negative log-likelihood (scikit-learn clips probabilities to machine epsilon)."""
    truth, score = _binary(p, y)
    return float(skm.log_loss(truth, score, labels=[0, 1]))


def _rate_at_top(p: NDArray[np.generic], y: NDArray[np.generic], share: float) -> float | None:
    truth, score = _binary(p, y)
    k = max(1, math.ceil(share * len(score)))
    top = np.argsort(-score, kind="stable")[:k]
    return float(np.mean(truth[top]))


@register_accuracy_metric("Rate@Top5%", tasks=("binary",), higher_is_better=True)
def rate_at_top5(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Share of positives among the ceil(5% n) highest-scored rows (ties: first logged first).

    Hand-written: scikit-learn has no positive rate among the top-scored share
    of rows (``top_k_accuracy_score`` asks whether each row's actual class is
    among its k most probable classes, another question).
    """
    return _rate_at_top(p, y, 0.05)


@register_accuracy_metric("Rate@Top10%", tasks=("binary",), higher_is_better=True)
def rate_at_top10(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Share of positives among the ceil(10% n) highest-scored rows; hand-written like Rate@Top5%."""
    return _rate_at_top(p, y, 0.10)


@register_accuracy_metric("TPR", tasks=("binary", "multiclass"), higher_is_better=True)
def tpr(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Recall TP / (TP + FN) at 0.5, None with no actual positive (multiclass: as Balanced Accuracy)."""
    if _is_labels(p):
        return _recall_over_actual_classes(p, y)
    return float(skm.recall_score(*_classes(p, y), zero_division=np.nan))


@register_accuracy_metric("PPV", tasks=("binary", "multiclass"), higher_is_better=True)
def ppv(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Precision TP / (TP + FP) at 0.5, None with no positive call.

    Multiclass: macro precision over every actual or predicted label, a label
    never predicted counting 0.
    """
    if _is_labels(p):
        return float(skm.precision_score(*_classes(p, y), average="macro", zero_division=0.0))
    return float(skm.precision_score(*_classes(p, y), zero_division=np.nan))


@register_accuracy_metric("F1", tasks=("binary", "multiclass"), higher_is_better=True)
def f1(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """2 TP / (2 TP + FP + FN) at 0.5, None with no positive at all (multiclass: macro F1, like PPV)."""
    if _is_labels(p):
        return float(skm.f1_score(*_classes(p, y), average="macro", zero_division=0.0))
    return float(skm.f1_score(*_classes(p, y), zero_division=np.nan))


@register_accuracy_metric("MCC", tasks=("binary", "multiclass"), higher_is_better=True)
def mcc(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Matthews correlation (multiclass: Gorodkin's R_K); 0 when a marginal is constant."""
    truth, called = _classes(p, y)
    if len(np.union1d(truth, called)) < 2:  # scikit-learn gives 0 too, after warning about the shape
        return 0.0
    return float(skm.matthews_corrcoef(truth, called))


# ---- regression -------------------------------------------------------------------------------------


def _regression(p: NDArray[np.generic], y: NDArray[np.generic]) -> tuple[Arr, Arr]:
    """(actuals, predictions) as floats, in scikit-learn's (y_true, y_pred) order."""
    return np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")


def _deviance_defined(y: Arr, mu: Arr, power: float) -> bool:
    """Where scikit-learn's Tweedie deviance is defined: mu > 0, and y >= 0 (y > 0 from power 2)."""
    return bool(np.all(mu > 0) and (np.all(y > 0) if power >= 2 else np.all(y >= 0)))


def _deviance(p: NDArray[np.generic], y: NDArray[np.generic], power: float) -> float | None:
    actual, mu = _regression(p, y)
    if not _deviance_defined(actual, mu, power):
        return None
    return float(skm.mean_tweedie_deviance(actual, mu, power=power))


def _fve(p: NDArray[np.generic], y: NDArray[np.generic], power: float) -> float | None:
    """Scikit-learn's D² Tweedie score; None where undefined, or when the mean's deviance is 0.

    Constant actuals are caught first (the mean's deviance is 0, and an all-zero
    mean is outside the deviance's domain); the null deviance is checked too,
    since actuals a rounding error apart would make scikit-learn divide by 0.
    """
    actual, mu = _regression(p, y)
    if np.ptp(actual) == 0 or not _deviance_defined(actual, mu, power):
        return None
    null = skm.mean_tweedie_deviance(actual, np.full_like(actual, actual.mean()), power=power)
    return float(skm.d2_tweedie_score(actual, mu, power=power)) if null > 0 else None


@register_accuracy_metric("Gamma Deviance", tasks=("regression",), higher_is_better=False)
def gamma_deviance(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean 2 (ln(mu/y) + y/mu - 1); needs y > 0 and mu > 0."""
    return _deviance(p, y, 2)


@register_accuracy_metric("FVE Gamma", tasks=("regression",), higher_is_better=True)
def fve_gamma(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - Gamma deviance / Gamma deviance of predicting the mean actual."""
    return _fve(p, y, 2)


@register_accuracy_metric("FVE Poisson", tasks=("regression",), higher_is_better=True)
def fve_poisson(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - Poisson deviance / Poisson deviance of predicting the mean actual."""
    return _fve(p, y, 1)


@register_accuracy_metric("FVE Tweedie", tasks=("regression",), higher_is_better=True)
def fve_tweedie(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - Tweedie (power 1.5) deviance / that of predicting the mean actual."""
    return _fve(p, y, TWEEDIE_POWER)


@register_accuracy_metric("MAD", tasks=("regression",), higher_is_better=False)
def mad(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Median absolute deviation of the predictions from the actuals: median |y - p|."""
    return float(skm.median_absolute_error(*_regression(p, y)))


@register_accuracy_metric("MAE", tasks=("regression",), higher_is_better=False)
def mae(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean |y - p|."""
    return float(skm.mean_absolute_error(*_regression(p, y)))


@register_accuracy_metric("MAPE", tasks=("regression",), higher_is_better=False)
def mape(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """100 * mean |y - p| / |y| over rows with y != 0 (a percentage; None if every y is 0).

    Rows with y = 0 are left out before calling scikit-learn, which would divide
    them by machine epsilon instead and report a huge number. A percentage, as
    DataRobot shows it (AutoML's leaderboard keeps scikit-learn's fraction).
    """
    actual, predicted = _regression(p, y)
    keep = actual != 0
    if not keep.any():
        return None
    return 100.0 * float(skm.mean_absolute_percentage_error(actual[keep], predicted[keep]))


@register_accuracy_metric("Poisson Deviance", tasks=("regression",), higher_is_better=False)
def poisson_deviance(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean 2 (y ln(y/mu) - (y - mu)); needs y >= 0 and mu > 0."""
    return _deviance(p, y, 1)


@register_accuracy_metric("R Squared", tasks=("regression",), higher_is_better=True)
def r_squared(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """1 - SS_res / SS_tot; None when the actuals are constant (scikit-learn would say 0 or 1)."""
    actual, predicted = _regression(p, y)
    return None if np.ptp(actual) == 0 else float(skm.r2_score(actual, predicted))


@register_accuracy_metric("RMSE", tasks=("regression",), higher_is_better=False)
def rmse(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """sqrt(mean((y - p)^2))."""
    return float(skm.root_mean_squared_error(*_regression(p, y)))


@register_accuracy_metric("RMSLE", tasks=("regression",), higher_is_better=False)
def rmsle(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """sqrt(mean((ln(1+p) - ln(1+y))^2)); needs p, y > -1."""
    actual, predicted = _regression(p, y)
    if np.any(predicted <= -1) or np.any(actual <= -1):
        return None
    return float(skm.root_mean_squared_log_error(actual, predicted))


@register_accuracy_metric("Tweedie Deviance", tasks=("regression",), higher_is_better=False)
def tweedie_deviance(p: NDArray[np.generic], y: NDArray[np.generic]) -> float | None:
    """Mean Tweedie deviance with power 1.5; needs y >= 0 and mu > 0."""
    return _deviance(p, y, TWEEDIE_POWER)
