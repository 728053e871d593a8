"""Fairness metrics over per-group counts, DataRobot's names, and the fairness health rule.

A fairness metric is a function of one group's counts (:class:`FavourableCounts`),
so a window's scores come from summed hourly buckets and never from rows. Each
group's score is compared with the most favoured group's (the highest score):
``relative = value / max``, DataRobot's "relative to the most favoured class",
and a group *passes* when ``relative >= fairness_threshold`` (0.8 by default, the
four-fifths rule). With the favourable class as the positive label these are
Fairlearn's definitions (the tests compare them on the same rows):

* ``proportionalParity``: favourable predictions / predictions, Fairlearn's
  ``selection_rate`` (min relative = ``demographic_parity_ratio``);
* ``equalParity``: the number of favourable predictions;
* ``favorableClassBalance`` / ``unfavorableClassBalance``: the mean predicted
  probability of the favourable class over rows whose actual is favourable /
  unfavourable (DataRobot's "prediction balance");
* ``trueFavorableRateParity``: ``true_positive_rate``; ``trueUnfavorableRateParity``:
  ``true_negative_rate``;
* ``favorablePredictiveValueParity``: precision (PPV); ``unfavorablePredictiveValueParity``:
  NPV;
* ``falsePositiveRateParity`` (not in a DataRobot set, asked for by name): ``false_positive_rate``.

A metric registers through :func:`register_fairness_metric` (a plugin may add one).
A group's value is ``None`` when its denominator is 0 (no rows, or no actuals).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring.fairness_settings import FAIRNESS_METRICS_SETS, FairnessSettings

__all__ = [
    "FairnessScores",
    "FavourableCounts",
    "GroupCounts",
    "GroupScore",
    "fairness_health",
    "fairness_metric_names",
    "is_label",
    "metric_fn",
    "metrics_of",
    "register_fairness_metric",
    "score_feature",
]


@dataclass
class GroupCounts:
    """A group's counts as stored (``fairness_hours``): relative to the model's positive class."""

    predictions: int = 0
    predicted_positive: int = 0
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0
    score_actual_positive: float = 0.0
    score_actual_negative: float = 0.0

    def add(self, other: GroupCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def favourable(self, favourable_is_positive: bool) -> FavourableCounts:
        """The counts with the favourable class as the positive label (the complements otherwise)."""
        if favourable_is_positive:
            return FavourableCounts(
                self.predictions,
                self.predicted_positive,
                self.true_positive,
                self.false_positive,
                self.false_negative,
                self.true_negative,
                self.score_actual_positive,
                self.score_actual_negative,
            )
        actual_negative = self.true_negative + self.false_positive
        actual_positive = self.true_positive + self.false_negative
        return FavourableCounts(
            self.predictions,
            self.predictions - self.predicted_positive,
            self.true_negative,
            self.false_negative,
            self.false_positive,
            self.true_positive,
            actual_negative - self.score_actual_negative,
            actual_positive - self.score_actual_positive,
        )


@dataclass(frozen=True)
class FavourableCounts:
    """One group's counts with the favourable class as positive: what metrics read."""

    predictions: int
    favourable: int
    true_favourable: int
    false_favourable: int
    false_unfavourable: int
    true_unfavourable: int
    #: Sum of P(favourable) over rows whose actual is favourable / unfavourable.
    score_actual_favourable: float
    score_actual_unfavourable: float

    @property
    def actual_favourable(self) -> int:
        return self.true_favourable + self.false_unfavourable

    @property
    def actual_unfavourable(self) -> int:
        return self.false_favourable + self.true_unfavourable


#: A metric: (value or None, the rows it is computed over).
MetricFn = Callable[[FavourableCounts], tuple[float | None, int]]
_METRICS: dict[str, MetricFn] = {}


def register_fairness_metric(name: str) -> Callable[[MetricFn], MetricFn]:
    def decorator(fn: MetricFn) -> MetricFn:
        _METRICS[name] = fn
        return fn

    return decorator


def fairness_metric_names() -> list[str]:
    return list(_METRICS)


def _ratio(numerator: float, denominator: int) -> tuple[float | None, int]:
    return (numerator / denominator if denominator else None), denominator


@register_fairness_metric("proportionalParity")
def _proportional(c: FavourableCounts) -> tuple[float | None, int]:
    return _ratio(c.favourable, c.predictions)


@register_fairness_metric("equalParity")
def _equal(c: FavourableCounts) -> tuple[float | None, int]:
    return (float(c.favourable) if c.predictions else None), c.predictions


@register_fairness_metric("favorableClassBalance")
def _favourable_balance(c: FavourableCounts) -> tuple[float | None, int]:
    return _ratio(c.score_actual_favourable, c.actual_favourable)


@register_fairness_metric("unfavorableClassBalance")
def _unfavourable_balance(c: FavourableCounts) -> tuple[float | None, int]:
    return _ratio(c.score_actual_unfavourable, c.actual_unfavourable)


@register_fairness_metric("trueFavorableRateParity")
def _tpr(c: FavourableCounts) -> tuple[float | None, int]:
    return _ratio(c.true_favourable, c.actual_favourable)


@register_fairness_metric("trueUnfavorableRateParity")
def _tnr(c: FavourableCounts) -> tuple[float | None, int]:
    return _ratio(c.true_unfavourable, c.actual_unfavourable)


@register_fairness_metric("favorablePredictiveValueParity")
def _ppv(c: FavourableCounts) -> tuple[float | None, int]:
    return _ratio(c.true_favourable, c.true_favourable + c.false_favourable)


@register_fairness_metric("unfavorablePredictiveValueParity")
def _npv(c: FavourableCounts) -> tuple[float | None, int]:
    return _ratio(c.true_unfavourable, c.true_unfavourable + c.false_unfavourable)


@register_fairness_metric("falsePositiveRateParity")
def _fpr(c: FavourableCounts) -> tuple[float | None, int]:
    return _ratio(c.false_favourable, c.actual_unfavourable)


def metric_fn(name: str) -> MetricFn:
    if name not in _METRICS:
        raise ValueError(f"fairness metric {name!r} is not valid; expected one of {fairness_metric_names()}")
    return _METRICS[name]


def is_label(value: Any, label: str | None) -> bool:
    """Whether a class label (text from the log or a setting) names ``label``: same text, number or boolean."""
    if label is None:
        return False
    text = str(value).strip()
    if isinstance(value, bool):
        text = "1" if value else "0"
    if text == label or text.lower() == label.lower():
        return True
    truth = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}

    def number(t: str) -> float | None:
        if t.lower() in truth:
            return truth[t.lower()]
        try:
            return float(t)
        except ValueError:
            return None

    a, b = number(text), number(label)
    return a is not None and a == b


@dataclass(frozen=True)
class GroupScore:
    label: str
    value: float | None
    relative: float | None
    sample_size: int
    significant: bool
    passed: bool | None

    def to_json(self) -> dict[str, Any]:
        """DataRobot's score shape (``absoluteValue`` the metric, ``value`` relative) plus ``passed``."""
        return {
            "label": self.label,
            "absoluteValue": self.value,
            "value": self.relative,
            "sampleSize": self.sample_size,
            "isStatisticallySignificant": self.significant,
            "passed": self.passed,
        }


@dataclass
class FairnessScores:
    """One protected feature's scores in one metric."""

    feature: str
    metric: str
    threshold: float
    groups: list[GroupScore] = field(default_factory=list)
    privileged: str | None = None

    @property
    def failing(self) -> list[GroupScore]:
        return [g for g in self.groups if g.significant and g.passed is False]

    def to_json(self) -> dict[str, Any]:
        significant = [g for g in self.groups if g.significant]
        return {
            "protectedFeature": self.feature,
            "metricName": self.metric,
            "fairnessThreshold": self.threshold,
            "privilegedClass": self.privileged,
            "classesCount": len(self.groups),
            "healthyClassesCount": sum(1 for g in significant if g.passed),
            "scores": [g.to_json() for g in self.groups],
        }


def score_feature(
    feature: str,
    metric: str,
    counts: Mapping[str, GroupCounts],
    *,
    favourable_is_positive: bool,
    threshold: float,
    min_group_rows: int,
) -> FairnessScores:
    """Every group's value, its value relative to the most favoured group's, and pass/fail."""
    fn = metric_fn(metric)
    raw = {group: fn(c.favourable(favourable_is_positive)) for group, c in sorted(counts.items())}
    known = {g: v for g, (v, _n) in raw.items() if v is not None}
    # The most favoured group is chosen among groups with enough rows when there are any:
    # a group of 3 rows all favoured must not make every large group fail.
    large = {g: v for g, v in known.items() if raw[g][1] >= min_group_rows}
    known = large or known
    top = max(known.values(), default=None)
    privileged = next((g for g, v in known.items() if v == top), None) if known else None
    scores = FairnessScores(feature, metric, threshold, privileged=privileged)
    for group, (value, n) in raw.items():
        relative: float | None
        relative = None if value is None or top is None else value / top if top > 0 else 1.0
        passed = None if relative is None else relative >= threshold
        scores.groups.append(GroupScore(group, value, relative, n, n >= min_group_rows, passed))
    return scores


def fairness_health(scores: list[FairnessScores], settings: FairnessSettings) -> tuple[HEALTH_STATUS, str]:
    """passing / warning / failing from how many groups score below the threshold; unknown without evidence.

    Only groups with ``min_group_rows`` rows in the metric's denominator count
    (a small group's ratio is mostly noise), and only when another significant
    group exists to compare with: a window without such groups is ``unknown``.
    """
    if not settings.enabled:
        return HEALTH_STATUS.UNKNOWN, "unknown: fairness monitoring is off (no protected features)"
    judged = [s for s in scores if sum(1 for g in s.groups if g.significant and g.relative is not None) >= 2]
    if not judged:
        return HEALTH_STATUS.UNKNOWN, (
            f"unknown: not enough rows to judge fairness: no protected feature has two groups with "
            f"{settings.min_group_rows} rows or more for {', '.join(sorted({s.metric for s in scores})) or 'its metric'}"
        )
    below = [(s, g) for s in judged for g in s.failing]
    if not below:
        return HEALTH_STATUS.PASSING, (
            f"passing: every group scores at least {settings.fairness_threshold:g} of the most favoured group's "
            f"({', '.join(f'{s.feature} {s.metric}' for s in judged)})"
        )
    listed = "; ".join(
        f"{s.feature}={g.label}: {s.metric} {g.value:.3g}, {g.relative:.2f} of {s.feature}={s.privileged}'s"
        for s, g in below[:5]
        if g.value is not None and g.relative is not None
    )
    more = f" and {len(below) - 5} more" if len(below) > 5 else ""
    noun = "group" if len(below) == 1 else "groups"
    message = (
        f"{len(below)} {noun} below the fairness threshold {settings.fairness_threshold:g}: {listed}{more}"
    )
    if len(below) >= settings.failing_groups:
        return HEALTH_STATUS.FAILING, f"failing: {message}"
    if len(below) >= settings.warning_groups:
        return HEALTH_STATUS.WARNING, f"warning: {message}"
    return HEALTH_STATUS.PASSING, f"passing: {message}"


def metrics_of(settings: FairnessSettings) -> tuple[str, ...]:
    """The individual metrics the settings' metric set reports."""
    return FAIRNESS_METRICS_SETS[settings.fairness_metrics_set]
