"""The default drift rule flags every kind of planted shift and never sampling noise.

Each shift test builds a baseline from generated training rows with
``build_baseline``, counts a shifted window into its bins, and fails if the
default rule (``DriftHealthSettings()``) leaves that feature unflagged; the
same feature drawn again unshifted must pass. The shifts are the issue's:
mean +0.1 sd, spread x1.2, a 10% cluster at +4 sd, lognormal sigma 1.0 -> 1.3,
uniform +0.25 sd, a rare category surging to 10%, a 20-level categorical mixed
25% with uniform, a brand-new category at 5%, missing values 1% -> 5%.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring import (
    DriftHealthSettings,
    FeatureVerdict,
    build_baseline,
    drift_health,
    feature_drift,
    judge_features,
)
from airflow_mlops.monitoring.drift_rule import ks_critical_value, share_rise_critical_value

N_BASELINE = 100_000
N_WINDOW = 200_000


def _zipf(levels: int, s: float = 1.0) -> np.ndarray:
    p = 1.0 / np.arange(1, levels + 1) ** s
    return np.asarray(p / p.sum())


def _names(levels: int) -> list[str]:
    return [f"level{i:03d}" for i in range(levels)]


def _normal(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    return rng.normal(0.1 if shifted else 0.0, 1.0, n)


def _spread(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    return rng.normal(0.0, 1.2 if shifted else 1.0, n)


def _tail_cluster(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    x = rng.normal(0.0, 1.0, n)
    if shifted:
        x[rng.random(n) < 0.10] += 4.0
    return x


def _lognormal(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    return rng.lognormal(0.0, 1.3 if shifted else 1.0, n)


def _uniform(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    return rng.uniform(0.0, 1.0, n) + (0.25 / np.sqrt(12.0) if shifted else 0.0)


def _rare_surge(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    p = _zipf(50)
    if shifted:  # the rarest of 50 levels (0.4%) becomes 10% of rows
        p = np.append(p[:-1] * 0.9 / p[:-1].sum(), 0.10)
    return rng.choice(_names(50), n, p=p)


def _mixed_with_uniform(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    p = _zipf(20)
    return rng.choice(_names(20), n, p=0.75 * p + 0.25 / 20 if shifted else p)


def _new_category(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    values = rng.choice(_names(10), n, p=_zipf(10)).astype(object)
    if shifted:
        values[rng.random(n) < 0.05] = "brand new"
    return values


def _missing_rise(rng: np.random.Generator, n: int, shifted: bool) -> np.ndarray:
    x = rng.normal(0.0, 1.0, n)
    x[rng.random(n) < (0.05 if shifted else 0.01)] = np.nan
    return x


Shift = Callable[[np.random.Generator, int, bool], np.ndarray]


def _judge(shift: Shift, shifted: bool, n_window: int = N_WINDOW, seed: int = 0) -> FeatureVerdict:
    rng = np.random.default_rng(seed)
    baseline = build_baseline(pd.DataFrame({"x": shift(rng, N_BASELINE, False)}))
    counts = baseline.count(pd.DataFrame({"x": shift(rng, n_window, shifted)}))
    return judge_features(baseline, counts)["x"]


def _assert_flagged_and_quiet_unshifted(shift: Shift) -> FeatureVerdict:
    verdict = _judge(shift, shifted=True)
    assert verdict.drifted, verdict.reason
    assert verdict.score is not None and verdict.threshold is not None
    assert verdict.sample_size == N_WINDOW
    quiet = _judge(shift, shifted=False)
    assert not quiet.drifted, quiet.reason
    return verdict


def test_mean_shift_of_a_tenth_sd_is_flagged() -> None:
    verdict = _assert_flagged_and_quiet_unshifted(_normal)
    assert verdict.statistic in ("wasserstein", "ks")


def test_spread_change_is_flagged() -> None:
    _assert_flagged_and_quiet_unshifted(_spread)


def test_tail_cluster_at_four_sd_is_flagged() -> None:
    verdict = _assert_flagged_and_quiet_unshifted(_tail_cluster)
    assert verdict.statistic == "wasserstein" and verdict.score is not None and verdict.score > 0.3


def test_lognormal_shape_change_is_flagged() -> None:
    _assert_flagged_and_quiet_unshifted(_lognormal)


def test_uniform_shift_of_a_quarter_sd_is_flagged() -> None:
    _assert_flagged_and_quiet_unshifted(_uniform)


def test_rare_category_surge_is_flagged() -> None:
    verdict = _assert_flagged_and_quiet_unshifted(_rare_surge)
    assert verdict.statistic == "js_distance"


def test_categorical_mixed_with_uniform_is_flagged() -> None:
    verdict = _assert_flagged_and_quiet_unshifted(_mixed_with_uniform)
    assert verdict.statistic == "js_distance"


def test_brand_new_category_is_flagged() -> None:
    verdict = _assert_flagged_and_quiet_unshifted(_new_category)
    assert "values not among the baseline's categories 4.95% vs 0.00%" in verdict.reason


def test_rise_in_missing_values_is_flagged() -> None:
    verdict = _assert_flagged_and_quiet_unshifted(_missing_rise)
    assert verdict.statistic == "missing_share_rise"
    assert verdict.score == pytest.approx(0.04, abs=0.003)


@pytest.mark.parametrize(
    ("shift", "statistic"),
    [
        (_tail_cluster, "unseen_share_rise"),
        (_uniform, "unseen_share_rise"),
        (_new_category, "unseen_share_rise"),
    ],
)
def test_values_beyond_the_baseline_show_even_in_a_small_window(shift: Shift, statistic: str) -> None:
    """500 rows are too few for a KS test to see a tail cluster, but its values outside the training range count."""
    verdict = _judge(shift, shifted=True, n_window=500)
    assert verdict.drifted and verdict.statistic == statistic, verdict.reason


def _unshifted(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Many kinds of features, none shifted: continuous, skewed, discrete, sparse categorical, with gaps."""
    with_gaps = rng.normal(5.0, 2.0, n)
    with_gaps[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "normal": rng.normal(3.0, 2.0, n),
            "lognormal": rng.lognormal(0.0, 1.5, n),
            "exponential": rng.exponential(1.0, n),
            "uniform": rng.uniform(-1.0, 1.0, n),
            "bimodal": np.where(rng.random(n) < 0.3, rng.normal(-3, 0.5, n), rng.normal(2, 1, n)),
            "counts": rng.poisson(2.0, n).astype(float),
            "rare_ints": rng.poisson(0.05, n).astype(float),
            "with_gaps": with_gaps,
            "binary": rng.choice(["yes", "no"], n, p=[0.9, 0.1]),
            "zipf50": rng.choice(_names(50), n, p=_zipf(50)),
            "zipf700": rng.choice([f"id{i}" for i in range(700)], n, p=_zipf(700, 1.1)),  # beyond the cap
            "uniform20": rng.choice(_names(20), n),
        }
    )


def test_no_false_alarm_on_unshifted_features_in_any_window_size() -> None:
    rng = np.random.default_rng(7)
    baseline = build_baseline(_unshifted(rng, N_BASELINE))
    assert sum(baseline.baseline_counts["zipf700"][-1:]) > 0  # training itself has values beyond the cap
    population = _unshifted(rng, 300_000)
    alarms: list[str] = []
    judged = 0
    for size, repeats in ((100, 12), (300, 12), (1_000, 8), (5_000, 4), (20_000, 2), (300_000, 1)):
        for _ in range(repeats):
            window = (
                population
                if size == len(population)
                else population.iloc[rng.integers(0, len(population), size)]
            )
            for name, verdict in judge_features(baseline, baseline.count(window)).items():
                judged += 1
                if verdict.drifted:
                    alarms.append(f"{size} rows, {name}: {verdict.reason}")
    assert judged == 39 * 12
    assert alarms == []


def test_sample_size_aware_thresholds_grow_in_small_windows() -> None:
    # The KS critical value at the default 1e-6: ~0.156 at 300 rows, below the 0.03 effect size from ~9k.
    assert ks_critical_value(300, N_BASELINE, 1e-6) == pytest.approx(0.1557, abs=1e-3)
    assert ks_critical_value(N_WINDOW, N_BASELINE, 1e-6) < 0.03 / 2
    small = _judge(_uniform, shifted=False, n_window=300)
    assert not small.drifted
    assert small.statistic == "ks" and small.threshold == pytest.approx(
        ks_critical_value(300, N_BASELINE, 1e-6)
    )
    # A share rise needs more than the 1-point effect when a few rows could make it by chance.
    assert share_rise_critical_value(0, N_BASELINE, 300, 1e-6) > 0.01
    assert share_rise_critical_value(1_000, N_BASELINE, N_WINDOW, 1e-6) < 0.01


def test_threshold_rule_is_datarobots_psi_rule() -> None:
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x": rng.normal(size=20_000), "c": rng.choice(list("abc"), 20_000)})
    baseline = build_baseline(train)
    live = pd.DataFrame({"x": rng.normal(0.8, 1.0, 5_000), "c": rng.choice(list("abc"), 5_000)})
    counts = baseline.count(live)
    settings = DriftHealthSettings(rule="threshold")
    verdicts = judge_features(baseline, counts, settings)
    scores = feature_drift(baseline, counts, "psi")
    for name, verdict in verdicts.items():
        assert verdict.statistic == "psi" and verdict.threshold == 0.15
        assert verdict.score == scores[name]
        assert verdict.drifted == (scores[name] >= 0.15)
    assert verdicts["x"].drifted and not verdicts["c"].drifted
    # Health from the verdicts reads exactly as health from the scores always did.
    assert drift_health(verdicts, {}, settings) == drift_health(scores, {}, settings)
    hellinger = judge_features(baseline, counts, DriftHealthSettings(rule="threshold", metric="hellinger"))
    assert hellinger["x"].statistic == "hellinger"


def test_threshold_rule_with_an_order_metric_leaves_categories_unscored() -> None:
    baseline = build_baseline(pd.DataFrame({"c": list("aab") * 100}))
    counts = baseline.count(pd.DataFrame({"c": list("abb") * 100}))
    verdict = judge_features(baseline, counts, DriftHealthSettings(rule="threshold", metric="ks"))["c"]
    assert verdict.score is None and not verdict.drifted
    assert "not defined for a categorical feature" in verdict.reason


def test_drift_health_names_each_drifted_feature_with_its_statistic_and_score() -> None:
    rng = np.random.default_rng(5)
    train = pd.DataFrame({"a": _tail_cluster(rng, 50_000, False), "b": _missing_rise(rng, 50_000, False)})
    baseline = build_baseline(train)
    live = pd.DataFrame({"a": _tail_cluster(rng, 50_000, True), "b": _missing_rise(rng, 50_000, True)})
    verdicts = judge_features(baseline, baseline.count(live))
    status, message = drift_health(verdicts, {"a": 1.0, "b": 1.0})
    assert status is HEALTH_STATUS.FAILING
    assert message.startswith("failing: 2 high-importance features drifted: ")
    assert f"a wasserstein={verdicts['a'].score:.3g}" in message
    assert f"b missing_share_rise={verdicts['b'].score:.3g}" in message
    assert message.endswith("(distribution rule)")
    quiet = judge_features(baseline, baseline.count(train.iloc[:5_000]))
    status, message = drift_health(quiet, {})
    assert status is HEALTH_STATUS.PASSING and message.startswith("passing: no feature drifted (2 checked")


def test_no_rows_is_unknown_not_passing_and_bad_counts_are_errors() -> None:
    baseline = build_baseline(pd.DataFrame({"x": np.arange(100.0)}))
    n_bins = baseline.features["x"].n_bins
    verdicts = judge_features(baseline, {"x": np.zeros(n_bins, dtype=np.int64)})
    assert verdicts["x"].score is None and verdicts["x"].sample_size == 0
    assert drift_health(verdicts, {})[0] is HEALTH_STATUS.UNKNOWN
    with pytest.raises(ValueError, match="'y' has counts but is not in the baseline"):
        judge_features(baseline, {"y": np.array([1])})
    with pytest.raises(ValueError, match=f"'x': counts have 3 bins but the baseline has {n_bins}"):
        judge_features(baseline, {"x": np.array([1, 2, 3])})


def test_distribution_settings_are_validated_and_camel_cased() -> None:
    settings = DriftHealthSettings.model_validate({"rule": "threshold", "wassersteinThreshold": 0.2})
    assert settings.rule == "threshold" and settings.wasserstein_threshold == 0.2
    dumped = DriftHealthSettings().model_dump(by_alias=True)
    assert dumped["rule"] == "distribution" and dumped["significanceLevel"] == 1e-6
    assert {"ksThreshold", "jsDistanceThreshold", "shareRiseThreshold"} <= set(dumped)
    with pytest.raises(ValueError, match="rule"):
        DriftHealthSettings(rule="vibes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="significance_level"):
        DriftHealthSettings(significance_level=0.0)
