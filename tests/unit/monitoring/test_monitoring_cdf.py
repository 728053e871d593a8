"""The binned statistics against scipy on the raw samples, within the error bounds they state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from airflow_mlops.monitoring import (
    binned_ks,
    binned_wasserstein,
    build_baseline,
    drift_metric,
    drift_score,
    jensen_shannon_distance,
    ks_error_bound,
    wasserstein_error_bound,
)
from airflow_mlops.monitoring.baseline import FeatureBins

RNG = np.random.default_rng(17)
N_REF, N_CUR = 50_000, 20_000


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    normal = RNG.normal(size=N_REF)
    cluster = RNG.normal(size=N_CUR)
    cluster[: N_CUR // 10] += 4.0
    return {
        "same normal": (normal, RNG.normal(size=N_CUR)),
        "mean +0.1 sd": (normal, RNG.normal(0.1, 1.0, N_CUR)),
        "spread x1.2": (normal, RNG.normal(0.0, 1.2, N_CUR)),
        "10% at +4 sd": (normal, cluster),
        "lognormal sigma 1.3": (RNG.lognormal(0, 1.0, N_REF), RNG.lognormal(0, 1.3, N_CUR)),
        "uniform +0.25 sd": (RNG.uniform(size=N_REF), RNG.uniform(size=N_CUR) + 0.25 / np.sqrt(12)),
        "far beyond the range": (normal, RNG.normal(30.0, 1.0, N_CUR)),
        "integers": (RNG.poisson(2, N_REF).astype(float), RNG.poisson(2.3, N_CUR).astype(float)),
    }


PAIRS = _pairs()


def _binned(ref: np.ndarray, cur: np.ndarray) -> tuple[FeatureBins, list[int], np.ndarray]:
    baseline = build_baseline(pd.DataFrame({"x": ref}))
    bins = baseline.features["x"]
    return bins, baseline.baseline_counts["x"], bins.count(cur)


@pytest.mark.parametrize("case", list(PAIRS))
def test_binned_wasserstein_is_scipys_normed_distance_within_the_stated_bound(case: str) -> None:
    ref, cur = PAIRS[case]
    bins, expected, actual = _binned(ref, cur)
    exact = wasserstein_distance(ref, cur) / np.std(ref)
    got = binned_wasserstein(bins, expected, actual)
    bound = wasserstein_error_bound(bins, expected, actual)
    assert got is not None and bound is not None
    if case == "far beyond the range":
        # Beyond the outermost edge (max + 8 robust scales) values count at the edge: a lower bound.
        assert 8.0 < got <= exact
        return
    assert abs(got - exact) <= bound, (got, exact, bound)
    # The bound is a worst case; in practice the binned value is far closer.
    assert abs(got - exact) <= 0.02, (got, exact)
    assert drift_score("wasserstein", expected, actual, bins) == pytest.approx(got, rel=1e-12)


@pytest.mark.parametrize("case", list(PAIRS))
def test_binned_ks_is_below_scipys_statistic_by_at_most_the_largest_bin_share(case: str) -> None:
    ref, cur = PAIRS[case]
    bins, expected, actual = _binned(ref, cur)
    exact = ks_2samp(ref, cur).statistic
    got = binned_ks(bins, expected, actual)
    bound = ks_error_bound(bins, expected, actual)
    assert got is not None and bound is not None
    assert got <= exact + 1e-12
    assert exact - got <= bound, (got, exact, bound)
    assert drift_score("ks", expected, actual, bins) == pytest.approx(got, rel=1e-12)


def test_missing_values_are_left_out_of_the_cdfs() -> None:
    ref, cur = PAIRS["mean +0.1 sd"]
    bins, expected, actual = _binned(ref, cur)
    with_missing = actual.copy()
    with_missing[0] += 5_000
    assert binned_ks(bins, expected, with_missing) == binned_ks(bins, expected, actual)
    assert binned_wasserstein(bins, expected, with_missing) == binned_wasserstein(bins, expected, actual)
    only_missing = np.zeros_like(actual)
    only_missing[0] = 10
    assert binned_ks(bins, expected, only_missing) is None


def test_js_distance_is_scipys_jensenshannon_on_the_counts() -> None:
    expected = np.array([10, 500, 300, 0, 190])
    actual = np.array([40, 300, 300, 60, 300])
    want = jensenshannon(expected, actual)  # natural log, scipy's default
    assert jensen_shannon_distance(expected, actual) == pytest.approx(want, rel=1e-12)
    assert drift_score("js_distance", expected, actual) == pytest.approx(want, rel=1e-12)  # needs no bins
    assert drift_score("js_distance", expected, expected) == 0.0
    divergence = drift_score("js_divergence", [100, 900], [300, 700])
    assert drift_score("js_distance", [100, 900], [300, 700]) == pytest.approx(np.sqrt(divergence), rel=1e-9)


def test_order_based_metrics_are_undefined_for_categories_and_need_bins() -> None:
    baseline = build_baseline(pd.DataFrame({"c": ["a", "b", "b", "c"] * 50}))
    bins = baseline.features["c"]
    counts = bins.count(pd.Series(["a", "a", "c", "z"] * 10))
    assert drift_score("wasserstein", baseline.baseline_counts["c"], counts, bins) is None
    assert drift_score("ks", baseline.baseline_counts["c"], counts, bins) is None
    assert drift_score("js_distance", baseline.baseline_counts["c"], counts, bins) is not None
    with pytest.raises(ValueError, match="'wasserstein' needs the feature's bins"):
        drift_score("wasserstein", baseline.baseline_counts["c"], counts)
    assert drift_metric("ks").needs_bins and not drift_metric("psi").counts


def test_old_baselines_norm_wasserstein_by_a_std_estimated_from_their_bins() -> None:
    ref = RNG.normal(size=N_REF)
    deciles = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
    old = FeatureBins(name="x", kind="numeric", edges=[float(e) for e in deciles])
    expected = old.count(ref)
    shifted = old.count(RNG.normal(0.5, 1.0, N_CUR))
    got = binned_wasserstein(old, expected, shifted)
    assert got is not None
    # Only the middle 80% is seen (the outer deciles are open-ended): lower, but clearly nonzero.
    assert 0.2 < got < 0.5
    assert binned_wasserstein(old, expected, old.count(ref[:N_CUR])) == pytest.approx(0.0, abs=0.02)
