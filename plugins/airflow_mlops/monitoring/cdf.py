"""Distribution statistics from binned counts: Wasserstein, Kolmogorov-Smirnov, Jensen-Shannon.

PSI and its relatives (:mod:`.drift`) compare bin shares and ignore where the
bins are, so a cluster moving from +1 sd to +4 sd scores the same as one moving
next door. The statistics here use the bins' *positions* (a numeric feature's
edges): from two count vectors on the same edges we know both cumulative
distribution functions (CDFs) exactly at every edge, and between edges only that
they rise monotonically. That is what bounds their error from the bin width.

Everything here ignores the missing bin (bin 0): the CDFs are of the non-missing
values, each normalised to 1, as ``scipy.stats`` sees a sample without NaN. A
rise in missing values is judged separately (:mod:`.drift_rule`).

Error bounds, with ``a_j``/``e_j`` the window's/baseline's share of non-missing
rows in bin ``j`` and ``w_j`` its width:

* Kolmogorov-Smirnov, ``max |F_a - F_e|`` over the edges, never exceeds the
  statistic of the raw samples and falls short of it by at most
  ``max_j max(a_j, e_j)`` (inside a bin each CDF moves by at most its bin's
  share). With 100 quantile bins the baseline's shares are ~0.01 (finer in the
  tails), so the bound is about 0.01 unless the window piles into one bin, and
  then the statistic itself is large.
* Wasserstein-1, ``integral |F_a - F_e| dx``, is computed with both CDFs linear
  inside each bin (values spread evenly), integrated exactly. Inside bin ``j``
  the true and the interpolated difference both lie in an interval of length
  ``a_j + e_j``, so the error is at most ``sum_j w_j * (a_j + e_j)`` over the
  bins between the outermost edges (:func:`wasserstein_error_bound`). For a
  normal baseline with the default bins that is about 0.1 sd when nothing
  moved; the actual error is far smaller (opposite errors cancel): within
  0.015 sd of ``scipy.stats.wasserstein_distance`` on every shape in the tests,
  0.0003 for a normal. Values beyond the
  outermost edges (more than 8 robust scales outside the training range) are
  counted at that edge, so there the binned distance is a lower bound. Baselines
  written before the tails existed (10 deciles) have open-ended bins holding
  10% of training each: their Wasserstein distance only sees the middle 80%.

The Wasserstein distance is *normed* like Evidently's "Wasserstein distance
(normed)": divided by the baseline's standard deviation, so 0.1 means "the
distribution moved by a tenth of a standard deviation" whatever the feature's
units. The standard deviation is the training values' (``FeatureBins.std``);
old baselines estimate it from the binned counts (bin midpoints). A constant
baseline (std 0) is normed by 1 unit.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from airflow_mlops.monitoring.baseline import FeatureBins

__all__ = [
    "binned_ks",
    "binned_wasserstein",
    "jensen_shannon_distance",
    "ks_error_bound",
    "wasserstein_error_bound",
]


def _value_shares(counts: ArrayLike) -> NDArray[np.float64] | None:
    """Shares of the non-missing bins (bin 0 dropped), or None when there are none."""
    arr = np.asarray(counts, dtype="float64")[1:]
    total = arr.sum()
    return None if total <= 0 else np.asarray(arr / total, dtype=np.float64)


def _cdfs(
    bins: FeatureBins, expected: ArrayLike, actual: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]] | None:
    """(edges, F_e at the edges, F_a at the edges), or None when undefined."""
    if bins.kind != "numeric" or not bins.edges:
        return None
    e, a = _value_shares(expected), _value_shares(actual)
    if e is None or a is None:
        return None
    edges = np.asarray(bins.edges, dtype="float64")
    # Value bin j (of len(edges) + 1) lies below edge j, so F(edge j) = shares of bins 0..j.
    return edges, np.cumsum(e)[:-1], np.cumsum(a)[:-1]


def binned_ks(bins: FeatureBins, expected: ArrayLike, actual: ArrayLike) -> float | None:
    """Kolmogorov-Smirnov statistic ``max |F_a - F_e|`` at the edges (non-missing values).

    None for a categorical feature (categories have no order, so no CDF), for a
    numeric one without edges, or when either side has no non-missing value.
    See the module docstring for its error bound (:func:`ks_error_bound`).
    """
    cdfs = _cdfs(bins, expected, actual)
    if cdfs is None:
        return None
    _edges, fe, fa = cdfs
    return float(np.max(np.abs(fa - fe)))


def ks_error_bound(bins: FeatureBins, expected: ArrayLike, actual: ArrayLike) -> float | None:
    """How far the raw samples' KS statistic may exceed :func:`binned_ks`: ``max_j max(a_j, e_j)``."""
    if _cdfs(bins, expected, actual) is None:
        return None
    e, a = _value_shares(expected), _value_shares(actual)
    assert e is not None and a is not None
    return float(np.max(np.maximum(a, e)))


def _std_from_bins(edges: NDArray[np.float64], shares: NDArray[np.float64]) -> float:
    """A baseline's standard deviation from its counts (old baselines carry none): bin midpoints."""
    points = np.concatenate([[edges[0]], (edges[:-1] + edges[1:]) / 2, [edges[-1]]])
    mean = float(np.sum(shares * points))
    return float(math.sqrt(max(0.0, float(np.sum(shares * (points - mean) ** 2)))))


def _norm(bins: FeatureBins, edges: NDArray[np.float64], expected: ArrayLike) -> float:
    std = bins.std
    if std is None:
        shares = _value_shares(expected)
        std = 0.0 if shares is None else _std_from_bins(edges, shares)
    return std if std > 0 else 1.0


def binned_wasserstein(
    bins: FeatureBins, expected: ArrayLike, actual: ArrayLike, *, normed: bool = True
) -> float | None:
    """Wasserstein-1 distance of the non-missing values, divided by the baseline's std when ``normed``.

    Both CDFs are linear inside each bin; ``|F_a - F_e|`` is then piecewise
    linear and integrated exactly (a segment that changes sign contributes
    ``w * (d0**2 + d1**2) / (2 * (|d0| + |d1|))``). None where :func:`binned_ks`
    is None. Error bound: :func:`wasserstein_error_bound` (module docstring).
    """
    cdfs = _cdfs(bins, expected, actual)
    if cdfs is None:
        return None
    edges, fe, fa = cdfs
    d = fa - fe
    d0, d1, width = d[:-1], d[1:], np.diff(edges)
    same_sign = d0 * d1 >= 0
    magnitude = np.abs(d0) + np.abs(d1)
    crossing = np.divide(d0**2 + d1**2, 2 * magnitude, out=np.zeros_like(magnitude), where=magnitude > 0)
    distance = float(np.sum(width * np.where(same_sign, magnitude / 2, crossing)))
    return distance / _norm(bins, edges, expected) if normed else distance


def wasserstein_error_bound(
    bins: FeatureBins, expected: ArrayLike, actual: ArrayLike, *, normed: bool = True
) -> float | None:
    """``sum_j w_j * (a_j + e_j)`` over the bins between the outermost edges (normed like the distance).

    Excludes values beyond the outermost edges (counted at the edge: the binned
    distance is then a lower bound, see the module docstring).
    """
    cdfs = _cdfs(bins, expected, actual)
    if cdfs is None:
        return None
    edges = cdfs[0]
    e, a = _value_shares(expected), _value_shares(actual)
    assert e is not None and a is not None
    bound = float(np.sum(np.diff(edges) * (a[1:-1] + e[1:-1])))
    return bound / _norm(bins, edges, expected) if normed else bound


def jensen_shannon_distance(expected: ArrayLike, actual: ArrayLike) -> float | None:
    """Jensen-Shannon distance (natural log), ``sqrt(JS divergence)``, over all bins, in [0, sqrt(ln 2)].

    The same number as ``scipy.spatial.distance.jensenshannon(expected, actual)``
    on the raw counts (no smoothing: it is finite without), and Evidently's
    default for categorical features (drift at >= 0.1). None when either side
    has no rows.
    """
    e = np.asarray(expected, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    if e.sum() <= 0 or a.sum() <= 0:
        return None
    p, q = e / e.sum(), a / a.sum()
    m = (p + q) / 2

    def kl(x: NDArray[np.float64]) -> float:
        present = x > 0
        return float(np.sum(x[present] * np.log(x[present] / m[present])))

    return float(math.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))
