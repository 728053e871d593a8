"""Drift metrics checked against references computed another way (scipy, plain math)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from airflow_mlops.enums import DATA_DRIFT_METRIC
from airflow_mlops.monitoring import (
    EPSILON,
    build_baseline,
    drift_metric_names,
    drift_score,
    feature_drift,
    get_drift_metric,
    register_drift_metric,
    smoothed_proportions,
)
from airflow_mlops.monitoring import drift as drift_module

# Fixed data with no empty bins, so smoothing does not enter the references.
EXPECTED = [120, 340, 280, 160, 100]
ACTUAL = [60, 250, 310, 230, 150]
ALL_METRICS = [m.value for m in DATA_DRIFT_METRIC]


def _props(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts]


def _hand_smooth(counts: list[int]) -> list[float]:
    """The documented smoothing, written out independently of the module."""
    props = [c / sum(counts) for c in counts]
    props = [p if p > 0 else 1e-4 for p in props]
    total = sum(props)
    return [p / total for p in props]


def test_psi_matches_hand_formula() -> None:
    e, a = _props(EXPECTED), _props(ACTUAL)
    reference = sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))
    assert drift_score("psi", EXPECTED, ACTUAL) == pytest.approx(reference, rel=1e-12)


def test_psi_is_sum_of_both_kl_directions() -> None:
    e, a = _props(EXPECTED), _props(ACTUAL)
    reference = entropy(a, e) + entropy(e, a)
    assert drift_score("psi", EXPECTED, ACTUAL) == pytest.approx(reference, rel=1e-12)


def test_kl_divergence_matches_scipy_entropy_of_actual_from_expected() -> None:
    e, a = _props(EXPECTED), _props(ACTUAL)
    score = drift_score("kl_divergence", EXPECTED, ACTUAL)
    assert score == pytest.approx(entropy(a, e), rel=1e-12)
    # The direction matters and is documented: KL(actual || expected), not the reverse.
    assert score != pytest.approx(entropy(e, a), rel=1e-6)


def test_js_divergence_is_squared_scipy_distance() -> None:
    e, a = _props(EXPECTED), _props(ACTUAL)
    reference = jensenshannon(a, e) ** 2  # scipy returns the distance (natural log by default)
    score = drift_score("js_divergence", EXPECTED, ACTUAL)
    assert score == pytest.approx(reference, rel=1e-9)
    assert score != pytest.approx(jensenshannon(a, e), rel=1e-3)


def test_hellinger_matches_bhattacharyya_formula() -> None:
    e, a = _props(EXPECTED), _props(ACTUAL)
    reference = math.sqrt(1 - sum(math.sqrt(ai * ei) for ai, ei in zip(a, e, strict=True)))
    assert drift_score("hellinger", EXPECTED, ACTUAL) == pytest.approx(reference, rel=1e-9)


def test_dissimilarity_is_total_variation_distance() -> None:
    e, a = _props(EXPECTED), _props(ACTUAL)
    reference = 0.5 * sum(abs(ai - ei) for ai, ei in zip(a, e, strict=True))
    assert drift_score("dissimilarity", EXPECTED, ACTUAL) == pytest.approx(reference, rel=1e-12)


def test_empty_bins_are_smoothed_so_scores_stay_finite() -> None:
    expected = [0, 50, 50, 0]
    actual = [10, 40, 50, 0]
    e, a = _hand_smooth(expected), _hand_smooth(actual)
    assert smoothed_proportions(expected) == pytest.approx(e, rel=1e-12)
    psi_ref = sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))
    assert drift_score("psi", expected, actual) == pytest.approx(psi_ref, rel=1e-12)
    assert drift_score("kl_divergence", expected, actual) == pytest.approx(entropy(a, e), rel=1e-12)
    for metric in ALL_METRICS:
        assert math.isfinite(drift_score(metric, expected, actual)), metric


def test_smoothing_only_touches_empty_bins() -> None:
    props = smoothed_proportions([0, 1, 3])
    raw = np.array([EPSILON, 0.25, 0.75])
    np.testing.assert_allclose(props, raw / raw.sum(), rtol=1e-12)
    assert props.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize("counts", [[5, 10, 85], [0, 3, 0, 7], [1]])
def test_identical_distributions_score_zero(metric: str, counts: list[int]) -> None:
    assert drift_score(metric, counts, counts) == 0.0
    # Proportions, not raw counts, are compared: a 10x bigger window is no drift.
    scaled = [10 * c for c in counts]
    assert drift_score(metric, counts, scaled) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_scores_are_positive_when_distributions_differ(metric: str) -> None:
    assert drift_score(metric, EXPECTED, ACTUAL) > 0


@pytest.mark.parametrize("metric", ["hellinger", "dissimilarity"])
def test_bounded_metrics_stay_in_unit_interval(metric: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        e = rng.integers(0, 50, size=6)
        a = rng.integers(0, 50, size=6)
        e[0] += 1
        a[1] += 1
        assert 0.0 <= drift_score(metric, e, a) <= 1.0
    # Disjoint supports: as far apart as smoothing allows, i.e. just under 1.
    assert drift_score(metric, [100, 0], [0, 100]) == pytest.approx(1.0, abs=0.02)


def test_js_divergence_is_bounded_by_ln2() -> None:
    score = drift_score("js_divergence", [100, 0], [0, 100])
    assert score <= math.log(2)
    assert score == pytest.approx(math.log(2), abs=0.01)


def test_enum_members_are_accepted_and_registry_matches_enum() -> None:
    assert set(ALL_METRICS) <= set(drift_metric_names())
    assert drift_score(DATA_DRIFT_METRIC.PSI, EXPECTED, ACTUAL) == drift_score("psi", EXPECTED, ACTUAL)


def test_unknown_metric_lists_registered_names() -> None:
    with pytest.raises(ValueError, match="unknown drift metric 'energy'") as info:
        get_drift_metric("energy")
    for name in ALL_METRICS:
        assert repr(name) in str(info.value)
    with pytest.raises(ValueError, match="energy"):
        drift_score("energy", EXPECTED, ACTUAL)


def test_register_custom_metric_and_refuse_silent_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift_module, "_REGISTRY", dict(drift_module._REGISTRY))

    @register_drift_metric("max_abs_diff")
    def max_abs_diff(expected: np.ndarray, actual: np.ndarray) -> float:
        return float(np.max(np.abs(actual - expected)))

    assert "max_abs_diff" in drift_metric_names()
    assert get_drift_metric("max_abs_diff") is max_abs_diff
    assert drift_score("max_abs_diff", [1, 1], [3, 1]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="'psi' is already registered"):
        register_drift_metric("psi")(max_abs_diff)
    register_drift_metric("psi", replace=True)(max_abs_diff)
    assert get_drift_metric("psi") is max_abs_diff


@pytest.mark.parametrize(
    ("expected", "actual", "side"), [([0, 0], [1, 2], "expected"), ([1, 2], [0, 0], "actual")]
)
def test_zero_total_raises(expected: list[int], actual: list[int], side: str) -> None:
    with pytest.raises(ValueError, match=f"{side} counts sum to zero"):
        drift_score("psi", expected, actual)


def test_bad_count_vectors_are_rejected() -> None:
    with pytest.raises(ValueError, match="same bins"):
        drift_score("psi", [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        drift_score("psi", [1, -2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        drift_score("psi", [], [])


def test_feature_drift_scores_each_feature_with_data() -> None:
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["a", "b", "c"], size=2000)})
    baseline = build_baseline(train, prediction=pd.Series(rng.random(2000)), prediction_name="score")
    live = pd.DataFrame({"x": rng.normal(loc=1.0, size=500), "c": rng.choice(["a", "b", "c"], size=500)})
    counts = baseline.count(live)
    counts["score"] = np.zeros(baseline.prediction.n_bins if baseline.prediction else 0, dtype=np.int64)

    scores = feature_drift(baseline, counts, metric="hellinger")

    assert set(scores) == {"x", "c"}  # "score" has no rows in the window: skipped, not scored
    for name in ("x", "c"):
        bins = baseline.bins(name)
        assert scores[name] == drift_score("hellinger", baseline.baseline_counts[name], counts[name], bins)
    assert scores["x"] > scores["c"]


def test_feature_drift_rejects_counts_from_another_baseline() -> None:
    baseline = build_baseline(pd.DataFrame({"x": np.arange(100.0)}), n_bins=4)
    with pytest.raises(ValueError, match="'y' has counts but is not in the baseline"):
        feature_drift(baseline, {"y": np.array([1, 2])})
    with pytest.raises(ValueError, match=r"'x': counts have 3 bins but the baseline has \d+"):
        feature_drift(baseline, {"x": np.array([1, 2, 3])})
    with pytest.raises(ValueError, match="unknown drift metric 'nope'"):
        feature_drift(baseline, {}, metric="nope")
