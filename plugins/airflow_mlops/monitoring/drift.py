"""Drift metrics: formulas over two count vectors of the same bins.

Because a baseline fixes the bins once (see :mod:`.baseline`), every drift metric
is a pure function of two count vectors: *expected* (training, or a reference
window) and *actual* (the monitored window). Metrics live in a registry, like
Evidently's stattests, so a deployment can name one in its settings and a plugin
can add its own without touching this module. Names follow DataRobot
(:class:`~airflow_mlops.enums.DATA_DRIFT_METRIC`).

Smoothing. Counts become proportions, then every *empty* bin gets
:data:`EPSILON` (1e-4) and the vector is renormalised to sum to 1. Without it,
one production value in a bin training never saw makes PSI and KL infinite, and
an infinite score ranks and averages badly. 1e-4 is the usual choice for PSI: it
is small next to one bin of ten (0.1), yet a bin jumping from nothing to a few
percent still scores clearly (0.05 of mass there alone adds ~0.31 PSI). Bins empty
on both sides get the same epsilon on both sides and contribute (almost) nothing.
Non-empty bins are left alone, so two identical count vectors give exactly 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from airflow_mlops.monitoring.baseline import Baseline

__all__ = [
    "EPSILON",
    "DriftMetricFn",
    "drift_metric_names",
    "drift_score",
    "feature_drift",
    "get_drift_metric",
    "register_drift_metric",
    "smoothed_proportions",
]

#: Mass given to an empty bin before renormalising (see the module docstring).
EPSILON = 1e-4

#: A metric takes smoothed proportions ``(expected, actual)``, each summing to 1
#: with no zero entries, and returns a score where 0 means "no drift".
DriftMetricFn = Callable[[NDArray[np.float64], NDArray[np.float64]], float]
F = TypeVar("F", bound=DriftMetricFn)

_REGISTRY: dict[str, DriftMetricFn] = {}


def register_drift_metric(name: str, *, replace: bool = False) -> Callable[[F], F]:
    """Decorator adding a metric under ``name``.

    Re-registering a name is an error unless ``replace=True``: two plugins both
    defining "psi" differently should fail loudly, not depend on import order.
    """
    key = str(name)
    if not key:
        raise ValueError("a drift metric needs a non-empty name")

    def decorator(fn: F) -> F:
        if key in _REGISTRY and not replace:
            raise ValueError(f"drift metric {key!r} is already registered (pass replace=True to override)")
        _REGISTRY[key] = fn
        return fn

    return decorator


def drift_metric_names() -> list[str]:
    """Registered metric names, sorted (for settings validation and UIs)."""
    return sorted(_REGISTRY)


def get_drift_metric(name: str) -> DriftMetricFn:
    """The metric registered as ``name``; an unknown name lists the valid ones."""
    try:
        return _REGISTRY[str(name)]
    except KeyError:
        valid = ", ".join(repr(n) for n in drift_metric_names())
        raise ValueError(f"unknown drift metric {str(name)!r}; registered metrics: {valid}") from None


def _as_counts(values: ArrayLike, side: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype="float64")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{side} counts must be a non-empty 1-D vector, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{side} counts must be finite and non-negative, got {arr.tolist()!r}")
    return arr


def smoothed_proportions(counts: ArrayLike, *, side: str = "counts") -> NDArray[np.float64]:
    """Counts to proportions with :data:`EPSILON` in empty bins, renormalised.

    A zero total has no proportions at all; that raises, because whether "no data"
    means passing, unknown or an alert is the caller's decision, not a number's.
    """
    arr = _as_counts(counts, side)
    total = arr.sum()
    if total <= 0:
        raise ValueError(f"{side} counts sum to zero: there is no data to compare")
    p = arr / total
    p = np.where(p > 0, p, EPSILON)
    return np.asarray(p / p.sum(), dtype=np.float64)


def drift_score(metric: str, expected: ArrayLike, actual: ArrayLike) -> float:
    """Score ``actual`` counts against ``expected`` counts of the same bins."""
    fn = get_drift_metric(metric)
    e = _as_counts(expected, "expected")
    a = _as_counts(actual, "actual")
    if e.shape != a.shape:
        raise ValueError(f"expected has {e.size} bins but actual has {a.size}; both must use the same bins")
    return float(fn(smoothed_proportions(e, side="expected"), smoothed_proportions(a, side="actual")))


@register_drift_metric("psi")
def psi(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Population Stability Index: ``sum((a - e) * ln(a / e))``.

    The industry default (and DataRobot's): symmetric in ``a`` and ``e`` (it is
    KL(a||e) + KL(e||a)), unbounded, with well-known rules of thumb (< 0.1 stable,
    0.1-0.25 moderate, > 0.25 major shift). Each term is >= 0, so it is too.
    """
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@register_drift_metric("kl_divergence")
def kl_divergence(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Kullback-Leibler divergence of actual from expected: ``sum(a * ln(a / e))``.

    Direction KL(actual || expected): the expected cost, in nats, of describing
    today's data with the training distribution, which is what "has the data moved
    away from training" asks. Weighted by ``a``, so mass that *appears* in a rare
    training bin counts more than mass that disappears. Unbounded, >= 0.
    """
    return float(np.sum(actual * np.log(actual / expected)))


@register_drift_metric("hellinger")
def hellinger(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Hellinger distance: ``sqrt(1 - sum(sqrt(a * e)))``, in [0, 1].

    Symmetric, bounded, and a true metric, so scores are comparable across
    features with different numbers of bins. Computed in the equivalent form
    ``sqrt(sum((sqrt(a) - sqrt(e))**2) / 2)`` (equal when both sum to 1), which
    cannot go negative from rounding and gives exactly 0 for identical inputs.
    """
    return float(min(1.0, np.sqrt(0.5 * np.sum((np.sqrt(actual) - np.sqrt(expected)) ** 2))))


@register_drift_metric("js_divergence")
def js_divergence(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Jensen-Shannon *divergence* with the natural log, in [0, ln 2].

    ``JS = KL(a || m)/2 + KL(e || m)/2`` with ``m = (a + e)/2``. Symmetric and
    finite even without smoothing. This is the divergence, not the JS *distance*
    (its square root) that ``scipy.spatial.distance.jensenshannon`` returns, so
    thresholds are on the divergence scale (distance ** 2).
    """
    m = 0.5 * (actual + expected)
    return float(0.5 * np.sum(actual * np.log(actual / m)) + 0.5 * np.sum(expected * np.log(expected / m)))


@register_drift_metric("dissimilarity")
def dissimilarity(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Total variation distance: ``sum(|a - e|) / 2``, in [0, 1].

    The share of rows that would have to move bin for the two distributions to
    match: the easiest metric to explain to a person ("18% of traffic shifted").
    """
    return float(min(1.0, 0.5 * np.sum(np.abs(actual - expected))))


def feature_drift(
    baseline: Baseline, counts: Mapping[str, ArrayLike], metric: str = "psi"
) -> dict[str, float]:
    """Score every feature (and the prediction) in ``counts`` against the baseline.

    Names whose window total is zero are skipped rather than scored: no rows is
    "no data", which health reports as unknown instead of as passing or drifted.
    A name the baseline does not know, or a vector with the wrong number of bins,
    is an error, since it means the counts came from a different baseline.
    """
    get_drift_metric(metric)  # fail on a bad metric even when nothing gets scored
    scores: dict[str, float] = {}
    for name, window in counts.items():
        actual: NDArray[Any] = np.asarray(window, dtype="float64")
        if actual.sum() == 0:
            continue
        try:
            expected = baseline.baseline_counts[name]
        except KeyError:
            raise ValueError(f"{name!r} has counts but is not in the baseline") from None
        if len(expected) != actual.size:
            raise ValueError(
                f"{name!r}: counts have {actual.size} bins but the baseline has {len(expected)}; "
                "were they counted with a different baseline?"
            )
        try:
            scores[name] = drift_score(metric, expected, actual)
        except ValueError as exc:
            raise ValueError(f"{name!r}: {exc}") from exc
    return scores
