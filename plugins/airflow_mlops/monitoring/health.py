"""Data drift health: from per-feature verdicts to passing / warning / failing.

Which features drifted is the rule the settings select (:mod:`.drift_rule`):
``distribution`` (the default: sample-size-aware Wasserstein/KS, Jensen-Shannon,
missing and unseen-value checks) or DataRobot's ``threshold`` (a feature is
drifted when its ``metric`` score reaches ``drift_threshold``). The status then
follows DataRobot's drift status rules: features are split into high and low
importance by ``importance_threshold``, and the status comes from how many
features of each group drifted. The defaults are DataRobot's:

* ``drift_threshold=0.15`` (PSI, ``threshold`` rule): a bit above the classic 0.1
  "watch it" level, so sampling noise in mid-sized windows does not page anyone.
* ``importance_threshold=0.5``: importance is normalised so the most important
  feature is 1.0; "high" means at least half as important as the top one.
* one drifted low-importance feature is a warning and low-importance features
  alone never fail the deployment (``low_importance_failing_count=None``);
* one drifted high-importance feature is failing (the warning count is also 1,
  but failing wins when both rules match).

Health only judges scores; it never computes them (see :mod:`.drift`). The
thresholds are the deployment's ``health`` settings (:mod:`.health_settings`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring.drift_rule import FeatureVerdict
from airflow_mlops.monitoring.health_settings import DriftHealthSettings, ServiceHealthSettings

__all__ = [
    "DriftHealthSettings",
    "ServiceHealthSettings",
    "accuracy_health",
    "drift_health",
    "service_failures",
    "service_health",
]

#: How many drifted features a message names per group before "and N more".
_MAX_LISTED = 5


def _describe(group: str, drifted: list[FeatureVerdict]) -> str:
    noun = "feature" if len(drifted) == 1 else "features"
    listed = ", ".join(f"{v.name} {v.statistic}={v.score:.3g}" for v in drifted[:_MAX_LISTED])
    if len(drifted) > _MAX_LISTED:
        listed += f" and {len(drifted) - _MAX_LISTED} more"
    return f"{len(drifted)} {group}-importance {noun} drifted: {listed}"


def _from_scores(scores: Mapping[str, float], settings: DriftHealthSettings) -> dict[str, FeatureVerdict]:
    """Plain scores judged as DataRobot does: ``metric`` >= ``drift_threshold``."""
    nan = sorted(name for name, score in scores.items() if math.isnan(score))
    if nan:
        raise ValueError(f"drift scores are NaN for {', '.join(nan)}; scores must be numbers")
    threshold = settings.drift_threshold
    return {
        name: FeatureVerdict(
            name, score >= threshold, settings.metric, score, threshold, 0, f"{settings.metric} {score:.3g}"
        )
        for name, score in scores.items()
    }


def drift_health(
    judged: Mapping[str, FeatureVerdict] | Mapping[str, float],
    importance: dict[str, float],
    settings: DriftHealthSettings | None = None,
) -> tuple[HEALTH_STATUS, str]:
    """Status and a message a person can act on (which features, by which statistic, how much).

    ``judged`` is either the verdicts of :func:`.drift_rule.judge_features`
    (judged by the rule ``settings`` select) or, as before that existed, plain
    scores of ``settings.metric``, which are judged by the ``threshold`` rule.
    ``unknown`` when there is nothing to judge (no scores, all excluded, or no
    rows in the window): a window without traffic is not evidence that the model
    is fine. A feature with no importance entry while others have one counts as
    high importance, for the same reason as in :class:`DriftHealthSettings`.
    """
    settings = settings or DriftHealthSettings()
    verdicts: dict[str, FeatureVerdict] = {}
    scores: dict[str, float] = {}
    for name, value in judged.items():
        if isinstance(value, FeatureVerdict):
            verdicts[name] = value
        else:
            scores[name] = float(value)
    verdicts.update(_from_scores(scores, settings))
    excluded = set(settings.excluded_features)
    considered = {name: v for name, v in verdicts.items() if name not in excluded}
    checked = {name: v for name, v in considered.items() if v.score is not None}
    if not checked:
        why = (
            "all scored features are excluded"
            if verdicts and not considered
            else "no feature has drift scores in this window"
        )
        return HEALTH_STATUS.UNKNOWN, f"unknown: {why}"

    def is_high(name: str) -> bool:
        return not importance or name not in importance or importance[name] >= settings.importance_threshold

    def ratio(v: FeatureVerdict) -> float:
        return (v.score or 0.0) / v.threshold if v.threshold else (v.score or 0.0)

    # Highest score first (relative to its threshold), so the message leads with what to look at.
    drifted = sorted((v for v in checked.values() if v.drifted), key=lambda v: (-ratio(v), v.name))
    high = [v for v in drifted if is_high(v.name)]
    low = [v for v in drifted if not is_high(v.name)]

    low_failing = settings.low_importance_failing_count
    failing = len(high) >= settings.high_importance_failing_count or (
        low_failing is not None and len(low) >= low_failing
    )
    warning = (
        len(high) >= settings.high_importance_warning_count
        or len(low) >= settings.low_importance_warning_count
    )
    status = HEALTH_STATUS.FAILING if failing else HEALTH_STATUS.WARNING if warning else HEALTH_STATUS.PASSING
    by_threshold = bool(scores) or settings.rule == "threshold"
    rule = f"threshold {settings.drift_threshold:g}" if by_threshold else "distribution rule"

    if not drifted:
        top = max(checked.values(), key=lambda v: (ratio(v), v.name))
        return status, (
            f"passing: no feature drifted ({len(checked)} checked; highest {top.name} "
            f"{top.statistic}={top.score:.3g}, {rule})"
        )
    parts = [_describe(group, items) for group, items in (("high", high), ("low", low)) if items]
    message = f"{status.value}: {'; '.join(parts)} ({rule})"
    if status is HEALTH_STATUS.PASSING:
        # Drifted, but fewer than the configured counts: say so, or it reads as a bug.
        message += " - below the configured warning counts"
    return status, message


# ---- service health ----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    """Whole milliseconds, or three digits below 10 ms (a fast model's median is often under 1 ms)."""
    return f"{value:.0f}" if value >= 10 else f"{value:.3g}"


def _service_checks(
    stats: dict[str, object], settings: ServiceHealthSettings
) -> tuple[int, list[tuple[str, str | None, str]], list[str], list[str]]:
    """(requests, failing [(label, reason, text)], warning texts, passing summaries)."""
    requests = int(stats.get("totalRequests") or 0)  # type: ignore[call-overload]
    slow = int(stats.get("slowRequests") or 0) / requests if requests else 0.0  # type: ignore[call-overload]
    rates = {
        "server errors": (float(stats.get("serverErrorRate") or 0.0), "server_error", "ERRORS"),  # type: ignore[arg-type]
        "user errors": (float(stats.get("userErrorRate") or 0.0), "user_error", None),  # type: ignore[arg-type]
        "slow requests (> 1000 ms)": (slow, "slow", "SCORING_SPEED"),
    }
    failing: list[tuple[str, str | None, str]] = []
    warning: list[str] = []
    summary: list[str] = []
    for label, (rate, key, reason) in rates.items():
        fail_at, warn_at = getattr(settings, f"{key}_failing"), getattr(settings, f"{key}_warning")
        summary.append(f"{label} {rate:.1%}")
        if rate >= fail_at:
            failing.append((label, reason, f"{label} {rate:.1%} >= {fail_at:.1%}"))
        elif rate >= warn_at:
            warning.append(f"{label} {rate:.1%} >= {warn_at:.1%}")
    # ``responseTime`` is the window's median per-request response time (the stats' default
    # quantile, read from a latency histogram): a median, so one stalled request cannot fail it.
    median_ms = stats.get("responseTime")
    if median_ms is not None and (
        settings.response_time_failing_ms is not None or settings.response_time_warning_ms is not None
    ):
        median = float(median_ms)  # type: ignore[arg-type]
        summary.append(f"median response time {_ms(median)} ms")
        if settings.response_time_failing_ms is not None and median >= settings.response_time_failing_ms:
            failing.append(
                (
                    "response time",
                    "SCORING_SPEED",
                    f"median response time {_ms(median)} ms >= {settings.response_time_failing_ms:g} ms",
                )
            )
        elif settings.response_time_warning_ms is not None and median >= settings.response_time_warning_ms:
            warning.append(
                f"median response time {_ms(median)} ms >= {settings.response_time_warning_ms:g} ms"
            )
    return requests, failing, warning, summary


def service_health(
    stats: dict[str, object], settings: ServiceHealthSettings | None = None
) -> tuple[HEALTH_STATUS, str]:
    """Status from a window's service stats (:func:`.service.service_stats_from_states`) and why."""
    settings = settings or ServiceHealthSettings()
    requests, failing, warning, summary = _service_checks(stats, settings)
    if requests < settings.min_requests:
        return (
            HEALTH_STATUS.UNKNOWN,
            f"unknown: {requests} requests in the window (need {settings.min_requests})",
        )
    if failing:
        texts = [text for _label, _reason, text in failing]
        return HEALTH_STATUS.FAILING, f"failing: {'; '.join(texts + warning)} of {requests} requests"
    if warning:
        return HEALTH_STATUS.WARNING, f"warning: {'; '.join(warning)} of {requests} requests"
    return HEALTH_STATUS.PASSING, f"passing: {', '.join(summary)} of {requests} requests"


def service_failures(
    stats: dict[str, object], settings: ServiceHealthSettings | None = None
) -> dict[str, str]:
    """The retraining reasons of a window's failing service checks, each with why.

    ``{"ERRORS": "server errors 7.0% >= 5.0%"}``; empty when nothing that names a
    reason fails, or when there is too little traffic to judge.
    """
    settings = settings or ServiceHealthSettings()
    requests, failing, _warning, _summary = _service_checks(stats, settings)
    if requests < settings.min_requests:
        return {}
    reasons: dict[str, str] = {}
    for _label, reason, text in failing:
        if reason is not None:
            reasons[reason] = f"{reasons[reason]}; {text}" if reason in reasons else text
    return reasons


# ---- accuracy health ---------------------------------------------------------------------------------


def accuracy_health(
    value: float | None,
    baseline_value: float | None,
    *,
    metric: str,
    higher_is_better: bool,
    measurement: str = "percent",
    warning_threshold: float = 0.1,
    failing_threshold: float = 0.2,
    pairs: int = 0,
) -> tuple[HEALTH_STATUS, str]:
    """Compare the window's metric with the holdout's (the deployment's accuracy health settings).

    ``degradation`` is how much worse the window is, oriented by the metric's
    direction: ``percent`` measures it relative to the holdout value
    (``(value - holdout) / |holdout|`` for a loss, the opposite for a score),
    ``value`` in the metric's own units. ``>= warning_threshold`` warns,
    ``>= failing_threshold`` fails (defaults 10% and 20%). No joined actuals is
    ``unavailable``; no holdout value to compare with (or the metric is undefined
    on the window) is ``unknown``.
    """
    if measurement not in ("percent", "value"):
        raise ValueError(f"measurement={measurement!r} is not valid; expected one of ['percent', 'value']")
    if pairs == 0:
        return HEALTH_STATUS.UNAVAILABLE, "unavailable: no actuals joined to predictions in the window"
    if value is None:
        return HEALTH_STATUS.UNKNOWN, f"unknown: {metric} is undefined on the {pairs} joined rows"
    if baseline_value is None:
        return HEALTH_STATUS.UNKNOWN, f"unknown: no holdout {metric} to compare {metric}={value:.4g} with"
    worse = (baseline_value - value) if higher_is_better else (value - baseline_value)
    if measurement == "percent":
        if baseline_value == 0:
            return HEALTH_STATUS.UNKNOWN, f"unknown: holdout {metric} is 0, a percent change is undefined"
        worse = worse / abs(baseline_value)
    shown = f"{worse:+.1%}" if measurement == "percent" else f"{worse:+.4g}"
    detail = f"{metric}={value:.4g} vs holdout {baseline_value:.4g} ({shown} worse, {pairs} rows)"
    if worse >= failing_threshold:
        return HEALTH_STATUS.FAILING, f"failing: {detail}; failing at {failing_threshold:g}"
    if worse >= warning_threshold:
        return HEALTH_STATUS.WARNING, f"warning: {detail}; warning at {warning_threshold:g}"
    return HEALTH_STATUS.PASSING, f"passing: {detail}"
