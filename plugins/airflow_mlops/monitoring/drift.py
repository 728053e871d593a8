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

Which bins the share metrics see. Baselines keep fine bins (100 quantile bins
plus tails, up to 500 categories; :mod:`.baseline`) so the statistics below can
see shape and tail changes. The five share metrics are computed on
DataRobot-scale groups of those bins instead (:func:`share_groups`): a numeric
feature's bins merged into deciles of the baseline, a categorical feature's ten
most frequent categories each on their own and the rest pooled, missing always
alone. That is the binning they had before the fine bins existed (so a score
means what it meant, and the ``threshold`` rule's PSI >= 0.15 keeps its
meaning), and it matters: PSI over ``k`` bins has a sampling-noise floor of about
``(k - 1) / n``, 0.4 at 300 rows over 119 bins, 0.03 over 11. Without ``bins``,
:func:`drift_score` scores the vectors as given.

Metrics that need more than smoothed shares. DataRobot's five (psi,
kl_divergence, hellinger, js_divergence, dissimilarity) compare bin shares only.
The statistics that see shape and tail changes (:mod:`.cdf`) need raw counts and,
for the order-based ones, where the bins are: a metric registered with
``counts=True`` is called as ``fn(expected_counts, actual_counts, bins)`` with the
unsmoothed counts and the feature's :class:`~.baseline.FeatureBins` (or None),
and with ``needs_bins=True`` :func:`drift_score` refuses to run it without bins.
Such a metric may answer None: "not defined for this feature". Registered here:

* ``wasserstein``: Wasserstein-1 distance of the binned CDFs normed by the
  baseline's standard deviation (Evidently's "Wasserstein distance (normed)");
* ``ks``: the Kolmogorov-Smirnov statistic of the binned CDFs;
* ``js_distance``: Jensen-Shannon distance, ``sqrt`` of ``js_divergence`` on the raw
  shares (``scipy.spatial.distance.jensenshannon``; Evidently's categorical default).

``wasserstein`` and ``ks`` are None for a categorical feature: categories have no
order and no distance between them, so there is no CDF to compare, and falling
back to another statistic under the same name would mix scales in one column of
``FeatureDrift.list``. Their error bounds from the bin width are in :mod:`.cdf`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from airflow_mlops.monitoring.baseline import Baseline, FeatureBins
from airflow_mlops.monitoring.cdf import binned_ks, binned_wasserstein, jensen_shannon_distance

__all__ = [
    "EPSILON",
    "SHARE_GROUPS",
    "DriftMetric",
    "DriftMetricFn",
    "drift_metric",
    "drift_metric_names",
    "drift_score",
    "feature_drift",
    "get_drift_metric",
    "register_drift_metric",
    "share_groups",
    "smoothed_proportions",
]

#: Mass given to an empty bin before renormalising (see the module docstring).
EPSILON = 1e-4

#: A metric takes smoothed proportions ``(expected, actual)``, each summing to 1
#: with no zero entries, and returns a score where 0 means "no drift".
DriftMetricFn = Callable[[NDArray[np.float64], NDArray[np.float64]], float]
#: A ``counts=True`` metric takes raw ``(expected, actual)`` counts and the feature's bins
#: (None when the caller has none) and may answer None ("not defined for this feature").
CountsMetricFn = Callable[[NDArray[np.float64], NDArray[np.float64], FeatureBins | None], float | None]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class DriftMetric:
    """A registered metric and how it is called (see the module docstring)."""

    name: str
    fn: Callable[..., Any]
    #: Called with raw counts and the bins (``CountsMetricFn``), not smoothed shares.
    counts: bool = False
    #: Needs the bins' positions: :func:`drift_score` without ``bins`` is an error.
    needs_bins: bool = False


_REGISTRY: dict[str, DriftMetric] = {}


def register_drift_metric(
    name: str, *, replace: bool = False, counts: bool = False, needs_bins: bool = False
) -> Callable[[F], F]:
    """Decorator adding a metric under ``name``.

    Re-registering a name is an error unless ``replace=True``: two plugins both
    defining "psi" differently should fail loudly, not depend on import order.
    ``counts``/``needs_bins``: see :class:`DriftMetric` (``needs_bins`` implies ``counts``).
    """
    key = str(name)
    if not key:
        raise ValueError("a drift metric needs a non-empty name")

    def decorator(fn: F) -> F:
        if key in _REGISTRY and not replace:
            raise ValueError(f"drift metric {key!r} is already registered (pass replace=True to override)")
        _REGISTRY[key] = DriftMetric(key, fn, counts=counts or needs_bins, needs_bins=needs_bins)
        return fn

    return decorator


def drift_metric_names() -> list[str]:
    """Registered metric names, sorted (for settings validation and UIs)."""
    return sorted(_REGISTRY)


def drift_metric(name: str) -> DriftMetric:
    """The registration of ``name`` (its function and how it is called); unknown names list the valid ones."""
    try:
        return _REGISTRY[str(name)]
    except KeyError:
        valid = ", ".join(repr(n) for n in drift_metric_names())
        raise ValueError(f"unknown drift metric {str(name)!r}; registered metrics: {valid}") from None


def get_drift_metric(name: str) -> Callable[..., Any]:
    """The function registered as ``name``; an unknown name lists the valid ones."""
    return drift_metric(name).fn


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


#: How many value groups the share metrics see (see the module docstring).
SHARE_GROUPS = 10


def share_groups(bins: FeatureBins, expected: ArrayLike) -> NDArray[np.intp]:
    """The DataRobot-scale group of every bin: missing, then deciles or the top 10 categories and the rest.

    Numeric: value bin ``j`` joins decile ``floor(10 * (mass before it + half its
    own mass))`` of the ``expected`` non-missing counts, so 1% quantile bins form
    the training deciles exactly, the out-of-range tails join the outer deciles,
    and an old 10-bin baseline keeps its bins. Categorical: the bins are in
    training frequency order, so the first 10 categories keep theirs and the
    rest, with "other", share one.
    """
    n_bins = bins.n_bins
    if bins.kind == "categorical":
        return np.minimum(np.arange(n_bins), SHARE_GROUPS + 1).astype(np.intp)
    values = np.asarray(expected, dtype="float64")[1:]
    total = values.sum()
    if total <= 0:
        return np.arange(n_bins, dtype=np.intp)
    shares = values / total
    middle = np.cumsum(shares) - shares / 2
    deciles = np.minimum(np.floor(middle * SHARE_GROUPS + 1e-9), SHARE_GROUPS - 1).astype(np.intp)
    return np.concatenate([[0], deciles + 1]).astype(np.intp)


def _grouped(counts: NDArray[np.float64], groups: NDArray[np.intp]) -> NDArray[np.float64]:
    present = np.unique(groups)
    summed = np.bincount(groups, weights=counts, minlength=int(groups.max()) + 1)
    return np.asarray(summed[present], dtype=np.float64)


def drift_score(
    metric: str, expected: ArrayLike, actual: ArrayLike, bins: FeatureBins | None = None
) -> float | None:
    """Score ``actual`` counts against ``expected`` counts of the same bins.

    ``bins`` (the feature's binning) is required by metrics that use bin
    positions (``wasserstein``, ``ks``); given to a share metric, it scores the
    DataRobot-scale groups of :func:`share_groups` instead of the raw bins.
    None only from a ``counts`` metric that is undefined for the feature (e.g.
    ``ks`` of a categorical feature); the share metrics always answer a number.
    """
    spec = drift_metric(metric)
    e = _as_counts(expected, "expected")
    a = _as_counts(actual, "actual")
    if e.shape != a.shape:
        raise ValueError(f"expected has {e.size} bins but actual has {a.size}; both must use the same bins")
    if bins is not None and bins.n_bins != e.size:
        raise ValueError(f"counts have {e.size} bins but the feature {bins.name!r} has {bins.n_bins}")
    if spec.needs_bins and bins is None:
        raise ValueError(f"drift metric {spec.name!r} needs the feature's bins (their positions): pass bins=")
    if spec.counts:
        if e.sum() <= 0:
            raise ValueError("expected counts sum to zero: there is no data to compare")
        if a.sum() <= 0:
            raise ValueError("actual counts sum to zero: there is no data to compare")
        value = spec.fn(e, a, bins)
        return None if value is None else float(value)
    if bins is not None:
        groups = share_groups(bins, e)
        e, a = _grouped(e, groups), _grouped(a, groups)
    return float(spec.fn(smoothed_proportions(e, side="expected"), smoothed_proportions(a, side="actual")))


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


@register_drift_metric("wasserstein", needs_bins=True)
def wasserstein(
    expected: NDArray[np.float64], actual: NDArray[np.float64], bins: FeatureBins | None
) -> float | None:
    """Wasserstein-1 distance of the binned CDFs divided by the baseline's std (:func:`.cdf.binned_wasserstein`).

    Numeric only (None for a categorical feature). Error bound from the bin
    width: ``sum_j w_j * (a_j + e_j) / std`` (:func:`.cdf.wasserstein_error_bound`).
    """
    return None if bins is None else binned_wasserstein(bins, expected, actual)


@register_drift_metric("ks", needs_bins=True)
def ks(expected: NDArray[np.float64], actual: NDArray[np.float64], bins: FeatureBins | None) -> float | None:
    """Kolmogorov-Smirnov statistic of the binned CDFs over non-missing values (:func:`.cdf.binned_ks`).

    Numeric only (None for a categorical feature). Never above the raw samples'
    statistic, and below it by at most the largest bin share ``max_j max(a_j, e_j)``.
    """
    return None if bins is None else binned_ks(bins, expected, actual)


@register_drift_metric("js_distance", counts=True)
def js_distance(
    expected: NDArray[np.float64], actual: NDArray[np.float64], bins: FeatureBins | None
) -> float | None:
    """Jensen-Shannon distance (natural log) over all bins, as ``scipy.spatial.distance.jensenshannon``.

    Exact on the bins (no binning error for a categorical feature, whose bins are
    its values); ``sqrt`` of ``js_divergence`` up to that metric's smoothing.
    """
    return jensen_shannon_distance(expected, actual)


def feature_drift(
    baseline: Baseline, counts: Mapping[str, ArrayLike], metric: str = "psi"
) -> dict[str, float]:
    """Score every feature (and the prediction) in ``counts`` against the baseline.

    Names whose window total is zero are skipped rather than scored: no rows is
    "no data", which health reports as unknown instead of as passing or drifted.
    So are features the metric is not defined for (``ks`` of a categorical one).
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
            score = drift_score(metric, expected, actual, baseline.bins(name))
        except ValueError as exc:
            raise ValueError(f"{name!r}: {exc}") from exc
        if score is not None:
            scores[name] = score
    return scores
