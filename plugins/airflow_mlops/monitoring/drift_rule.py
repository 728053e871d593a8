"""Which features drifted: the ``distribution`` rule (default) and DataRobot's ``threshold`` rule.

A drift statistic is a number; health needs a yes or no per feature. DataRobot
answers "PSI >= 0.15", which misses what PSI over wide bins cannot see (a 10%
cluster moving to +4 sd, a lognormal's spread, a rare category's surge, each
PSI 0.01-0.14 on the issue's planted-shift data) and, on a window of a few
hundred rows, raises alarms from sampling noise alone. The ``distribution`` rule
asks two questions of every check: *is the change real* (beyond what sampling
noise produces at these two sample sizes, at ``significance_level``), and *is it
big enough to matter* (an effect size, the same at any sample size). A feature
drifts when any check answers yes to both:

* **numeric shape** (non-missing values): the Kolmogorov-Smirnov statistic of
  the binned CDFs reaches its critical value ``sqrt(ln(2/alpha)/2 * (n+m)/(n*m))``
  (``n``/``m`` the window's/baseline's non-missing rows), *and* either the
  Wasserstein distance normed by the baseline's std reaches
  ``wasserstein_threshold`` (0.1: Evidently's default, "moved by a tenth of a
  standard deviation"; catches tails and spreads) or the KS statistic reaches
  ``ks_threshold`` (0.03: a mean shift of 0.075 sd moves a normal's CDF by 0.03,
  so a 0.1 sd shift, which sits right at Evidently's Wasserstein threshold, is
  caught with margin; 10x the KS noise of 100k vs 1M rows).
* **categorical shape** (non-missing values): the KS statistic over the
  categories in the bins' order (most frequent in training first, "other" last)
  reaches the same critical value, *and* the Jensen-Shannon distance reaches
  ``js_distance_threshold`` (0.07; Evidently's default is 0.1, but a 20-level
  Zipf categorical mixed 25% with uniform scores 0.080). Not a chi-square test:
  its tails, and those of ``8 n JSD``, are too light on sparse categories (700
  Zipf categories at 5000 rows crossed the 1e-6 chi-square critical value as a
  matter of course, even with categories expected < 5 times pooled), while KS is
  distribution-free and conservative on discrete data. Any order gives a valid
  test; frequency order makes a rare category's surge or a new category (at the
  end) show fully.
* **missing values**: the window's missing share exceeds the baseline's by
  ``share_rise_threshold`` (0.01, one percentage point) and by more than a
  binomial count at the baseline rate's upper confidence bound explains.
* **values the baseline never saw**: the same test on the share of new
  categories (the "other" bin) or of numbers outside the training range (the
  exact tails of :mod:`.baseline`; training has none there by construction).
  This is what flags a shifted tail in a small window: of 500 rows, the ~17 of a
  10% cluster at +4 sd that land beyond the training maximum move KS to 0.095,
  below its 0.12 critical value, but a binomial test against a training share of
  0 sees them at once.

Why both conditions: effect sizes alone alert on noise in small windows
(unshifted features reached a normed Wasserstein of 0.86 at 100 rows, 0.21 at
1000; Evidently switches to p-values below 1000 rows for that reason); p-values alone
alert on harmless changes at a million rows. ``significance_level`` is 1e-6 per
test: with three tests on each of 50 features in 24 windows a day, sampling noise
alerts about once in 300 days, and at 100k baseline rows the critical values sit
below the effect sizes from about 9k window rows on. Verified on generated
data (``tests/unit/monitoring/test_monitoring_drift_rule.py``; figures in
docs/architecture.md): every planted shift is flagged at 1M window rows, and no
unshifted feature in 45 684 feature-windows of 100 to 100 000 rows (the largest
KS reached 0.84 of its critical value).

The ``threshold`` rule is DataRobot's: ``metric`` >= ``drift_threshold``, kept
for compatibility (``FeatureDrift.list`` still defaults to PSI).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from airflow_mlops.monitoring.baseline import Baseline, FeatureBins
from airflow_mlops.monitoring.cdf import binned_ks, binned_wasserstein, jensen_shannon_distance
from airflow_mlops.monitoring.drift import drift_score, get_drift_metric
from airflow_mlops.monitoring.health_settings import DriftHealthSettings

__all__ = [
    "FeatureVerdict",
    "judge_features",
    "ks_critical_value",
    "share_rise_critical_value",
]


@dataclass(frozen=True)
class FeatureVerdict:
    """One feature's judgement: drifted or not, by which statistic, and why in words.

    ``statistic`` names what ``score`` is (``wasserstein``, ``ks``, ``js_distance``,
    ``missing_share_rise``, ``unseen_share_rise``, or the threshold rule's metric);
    ``threshold`` is what it was compared with, sample-size aware where the rule
    is; ``score`` is None when there is nothing to score (no rows in the window,
    or the metric is undefined for the feature). ``sample_size`` counts the
    window's rows, missing included.
    """

    name: str
    drifted: bool
    statistic: str
    score: float | None
    threshold: float | None
    sample_size: int
    reason: str


def ks_critical_value(n: int, m: int, alpha: float) -> float:
    """The two-sample KS statistic that sampling noise exceeds with probability ``alpha`` (asymptotic).

    ``c(alpha) * sqrt((n + m) / (n * m))`` with ``c = sqrt(ln(2 / alpha) / 2)``:
    slightly above the exact one-sample quantile at the effective size, and the
    binned statistic never exceeds the raw one, so the test errs on the quiet side.
    """
    if n <= 0 or m <= 0:
        return math.inf
    return math.sqrt(math.log(2.0 / alpha) / 2.0 * (n + m) / (n * m))


def share_rise_critical_value(k_e: int, m: int, n: int, alpha: float) -> float:
    """The rise over the baseline share ``k_e / m`` that ``n`` rows reach by chance with probability <= ``alpha``.

    The baseline rate is taken at its one-sided Clopper-Pearson upper bound
    (confidence ``1 - alpha``), so a small baseline cannot make a noisy rate look
    significant, and a rate of 0 in training (no value outside the range) is not
    treated as impossible; the window's count is then binomial at that rate.
    """
    if n <= 0 or m <= 0:
        return math.inf
    upper = 1.0 if k_e >= m else float(stats.beta.ppf(1.0 - alpha, k_e + 1, m - k_e))
    critical_count = float(stats.binom.isf(alpha, n, upper)) + 1.0
    return critical_count / n - k_e / m


@dataclass(frozen=True)
class _Check:
    statistic: str
    score: float
    threshold: float
    drifted: bool
    reason: str


def _share_check(
    statistic: str, what: str, k_a: int, n: int, k_e: int, m: int, settings: DriftHealthSettings
) -> _Check | None:
    if n <= 0 or m <= 0:
        return None
    rise = k_a / n - k_e / m
    critical = share_rise_critical_value(k_e, m, n, settings.significance_level)
    threshold = max(settings.share_rise_threshold, critical)
    drifted = rise >= threshold
    reason = (
        f"{what} {k_a / n:.2%} vs {k_e / m:.2%} in the baseline (rise {rise:+.2%}; "
        f"drift at >= {settings.share_rise_threshold:.2%} and >= {critical:.2%} for {n} rows)"
    )
    return _Check(statistic, rise, threshold, drifted, reason)


def _numeric_check(
    bins: FeatureBins, expected: NDArray[np.int64], actual: NDArray[np.int64], settings: DriftHealthSettings
) -> _Check | None:
    ks = binned_ks(bins, expected, actual)
    wasserstein = binned_wasserstein(bins, expected, actual)
    if ks is None or wasserstein is None:
        return None
    n, m = int(actual[1:].sum()), int(expected[1:].sum())
    critical = ks_critical_value(n, m, settings.significance_level)
    significant = ks >= critical
    noise = f"KS {ks:.3g} {'>=' if significant else '<'} its critical value {critical:.3g} for {n} rows"
    if wasserstein >= settings.wasserstein_threshold:
        return _Check(
            "wasserstein",
            wasserstein,
            settings.wasserstein_threshold,
            significant,
            f"normed Wasserstein {wasserstein:.3g} >= {settings.wasserstein_threshold:g}; {noise}"
            + ("" if significant else ": within sampling noise"),
        )
    threshold = max(settings.ks_threshold, critical)
    drifted = ks >= threshold
    return _Check(
        "ks",
        ks,
        threshold,
        drifted,
        f"KS {ks:.3g} {'>=' if drifted else '<'} {threshold:.3g} (effect {settings.ks_threshold:g}, "
        f"critical {critical:.3g} for {n} rows); normed Wasserstein {wasserstein:.3g}",
    )


def _categorical_check(
    expected: NDArray[np.int64], actual: NDArray[np.int64], settings: DriftHealthSettings
) -> _Check | None:
    e, a = expected[1:], actual[1:]
    distance = jensen_shannon_distance(e, a)
    if distance is None:
        return None
    # Significance: KS over the categories in the bins' order (most frequent in training first,
    # "other" last): distribution-free, conservative for discrete data, unlike chi-square
    # approximations, whose tails are too light on sparse categories (see the module docstring).
    n, m = int(a.sum()), int(e.sum())
    ks = float(np.max(np.abs(np.cumsum(a) / n - np.cumsum(e) / m)))
    critical = ks_critical_value(n, m, settings.significance_level)
    significant = ks >= critical
    drifted = significant and distance >= settings.js_distance_threshold
    return _Check(
        "js_distance",
        distance,
        settings.js_distance_threshold,
        drifted,
        f"JS distance {distance:.3g} {'>=' if distance >= settings.js_distance_threshold else '<'} "
        f"{settings.js_distance_threshold:g}; KS over the categories {ks:.3g} "
        f"{'>=' if significant else '<'} its critical value {critical:.3g} for {n} rows"
        + ("" if significant or distance < settings.js_distance_threshold else ": within sampling noise"),
    )


def _distribution_verdict(
    name: str,
    bins: FeatureBins,
    expected: NDArray[np.int64],
    actual: NDArray[np.int64],
    settings: DriftHealthSettings,
) -> FeatureVerdict:
    size = int(actual.sum())
    n, m = int(actual[1:].sum()), int(expected[1:].sum())
    checks: list[_Check] = []
    shape = (
        _numeric_check(bins, expected, actual, settings)
        if bins.kind == "numeric"
        else _categorical_check(expected, actual, settings)
    )
    if shape is not None:
        checks.append(shape)
    if bins.kind == "categorical":
        unseen = _share_check(
            "unseen_share_rise",
            "values not among the baseline's categories",
            int(actual[-1]),
            n,
            int(expected[-1]),
            m,
            settings,
        )
    else:
        mask = bins.out_of_range_mask()
        unseen = (
            None
            if mask is None
            else _share_check(
                "unseen_share_rise",
                "values outside the training range",
                int(actual[mask].sum()),
                n,
                int(expected[mask].sum()),
                m,
                settings,
            )
        )
    if unseen is not None:
        checks.append(unseen)
    missing = _share_check(
        "missing_share_rise", "missing", int(actual[0]), size, int(expected[0]), int(expected.sum()), settings
    )
    if missing is not None:
        checks.append(missing)
    fired = [check for check in checks if check.drifted]
    if fired:
        lead = fired[0]
        reason = "; ".join(check.reason for check in fired)
        return FeatureVerdict(name, True, lead.statistic, lead.score, lead.threshold, size, reason)
    if shape is None:
        return FeatureVerdict(
            name,
            False,
            "ks" if bins.kind == "numeric" else "js_distance",
            None,
            None,
            size,
            "no non-missing values to compare" + (f"; {missing.reason}" if missing else ""),
        )
    return FeatureVerdict(
        name, False, shape.statistic, shape.score, shape.threshold, size, "; ".join(c.reason for c in checks)
    )


def _threshold_verdict(
    name: str,
    bins: FeatureBins,
    expected: NDArray[np.int64],
    actual: NDArray[np.int64],
    settings: DriftHealthSettings,
) -> FeatureVerdict:
    metric, threshold = settings.metric, settings.drift_threshold
    score = drift_score(metric, expected, actual, bins)
    size = int(actual.sum())
    if score is None:
        why = f"{metric} is not defined for a {bins.kind} feature"
        return FeatureVerdict(name, False, metric, None, threshold, size, why)
    drifted = score >= threshold
    reason = f"{metric} {score:.3g} {'>=' if drifted else '<'} {threshold:g}"
    return FeatureVerdict(name, drifted, metric, score, threshold, size, reason)


def judge_features(
    baseline: Baseline, counts: Mapping[str, ArrayLike], settings: DriftHealthSettings | None = None
) -> dict[str, FeatureVerdict]:
    """Judge every feature (or prediction) in ``counts`` with the rule ``settings`` select.

    ``counts`` are a window's summed count vectors on the baseline's bins (what
    :func:`.reads.drift.window_counts` returns). A name with no rows in the
    window gets a verdict with ``score=None`` (no data is not "no drift"); a name
    the baseline does not know, or a vector of the wrong length, is an error.
    """
    settings = settings or DriftHealthSettings()
    if settings.rule == "threshold":
        get_drift_metric(settings.metric)  # fail on a bad metric even when nothing gets judged
    verdicts: dict[str, FeatureVerdict] = {}
    for name, window in counts.items():
        actual = np.asarray(window, dtype=np.int64)
        try:
            bins = baseline.bins(name)
        except KeyError:
            raise ValueError(f"{name!r} has counts but is not in the baseline") from None
        expected = np.asarray(baseline.baseline_counts[name], dtype=np.int64)
        if actual.ndim != 1 or actual.size != expected.size:
            raise ValueError(
                f"{name!r}: counts have {actual.size} bins but the baseline has {expected.size}; "
                "were they counted with a different baseline?"
            )
        if actual.sum() == 0 or expected.sum() == 0:
            why = "no rows in the window" if actual.sum() == 0 else "the baseline has no rows"
            statistic = settings.metric if settings.rule == "threshold" else "none"
            verdicts[name] = FeatureVerdict(name, False, statistic, None, None, int(actual.sum()), why)
            continue
        judge = _threshold_verdict if settings.rule == "threshold" else _distribution_verdict
        try:
            verdicts[name] = judge(name, bins, expected, actual, settings)
        except ValueError as exc:
            raise ValueError(f"{name!r}: {exc}") from exc
    return verdicts
