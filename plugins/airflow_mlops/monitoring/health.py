"""Data drift health: from per-feature scores to passing / warning / failing.

Mirrors DataRobot's drift status rules: a feature is *drifted* when its score
reaches ``drift_threshold``; features are split into high and low importance by
``importance_threshold``; and the status comes from how many features of each
group drifted. The defaults are DataRobot's:

* ``drift_threshold=0.15`` (PSI): a bit above the classic 0.1 "watch it" level, so
  sampling noise in small windows does not page anyone.
* ``importance_threshold=0.5``: importance is normalised so the most important
  feature is 1.0; "high" means at least half as important as the top one.
* one drifted low-importance feature is a warning and low-importance features
  alone never fail the deployment (``low_importance_failing_count=None``);
* one drifted high-importance feature is failing (the warning count is also 1,
  but failing wins when both rules match).

Health only judges scores; it never computes them (see :mod:`.drift`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring.drift import get_drift_metric

__all__ = ["DriftHealthSettings", "drift_health"]

#: How many drifted features a message names per group before "and N more".
_MAX_LISTED = 5


def _check_count(value: object, field_name: str, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "an integer >= 1" + (" or None" if optional else "")
        raise ValueError(f"{field_name}={value!r} is not valid; expected {allowed}")


def _check_number(value: object, field_name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{field_name}={value!r} is not valid; expected a finite number >= 0")


@dataclass
class DriftHealthSettings:
    """Thresholds turning drift scores into a status; defaults follow DataRobot."""

    #: A feature is drifted when its score is >= this (on ``metric``'s scale).
    drift_threshold: float = 0.15
    #: Features with importance >= this are high importance. Without any known
    #: importance every feature is treated as high importance (we cannot tell an
    #: unimportant feature from an unmeasured one, so err on the side of alerting).
    importance_threshold: float = 0.5
    #: Drifted low-importance features needed for a warning.
    low_importance_warning_count: int = 1
    #: Drifted low-importance features needed to fail; None: they never fail.
    low_importance_failing_count: int | None = None
    #: Drifted high-importance features needed for a warning.
    high_importance_warning_count: int = 1
    #: Drifted high-importance features needed to fail.
    high_importance_failing_count: int = 1
    #: Features never judged (IDs, timestamps, features known to drift by design).
    excluded_features: list[str] = field(default_factory=list)
    #: Registered drift metric the scores were computed with (named in messages).
    metric: str = "psi"

    def __post_init__(self) -> None:
        _check_number(self.drift_threshold, "drift_threshold")
        _check_number(self.importance_threshold, "importance_threshold")
        _check_count(self.low_importance_warning_count, "low_importance_warning_count")
        _check_count(self.low_importance_failing_count, "low_importance_failing_count", optional=True)
        _check_count(self.high_importance_warning_count, "high_importance_warning_count")
        _check_count(self.high_importance_failing_count, "high_importance_failing_count")
        if isinstance(self.excluded_features, str) or not all(
            isinstance(f, str) for f in self.excluded_features
        ):
            raise ValueError(
                f"excluded_features={self.excluded_features!r} is not valid; expected a list of names"
            )
        get_drift_metric(self.metric)  # unknown metric -> ValueError listing the registered ones
        self.metric = str(self.metric)


def _describe(group: str, drifted: list[tuple[str, float]], metric: str) -> str:
    noun = "feature" if len(drifted) == 1 else "features"
    listed = ", ".join(f"{name} {metric}={score:.3g}" for name, score in drifted[:_MAX_LISTED])
    if len(drifted) > _MAX_LISTED:
        listed += f" and {len(drifted) - _MAX_LISTED} more"
    return f"{len(drifted)} {group}-importance {noun} drifted: {listed}"


def drift_health(
    scores: dict[str, float],
    importance: dict[str, float],
    settings: DriftHealthSettings | None = None,
) -> tuple[HEALTH_STATUS, str]:
    """Status and a message a person can act on (which features, by how much).

    ``unknown`` when there is nothing to judge (no scores, or all excluded): a
    window without traffic is not evidence that the model is fine. A feature with
    no importance entry while others have one counts as high importance, for the
    same reason as in :class:`DriftHealthSettings`.
    """
    settings = settings or DriftHealthSettings()
    metric = settings.metric
    threshold = settings.drift_threshold
    excluded = set(settings.excluded_features)
    judged = {name: score for name, score in scores.items() if name not in excluded}
    nan = sorted(name for name, score in judged.items() if math.isnan(score))
    if nan:
        raise ValueError(f"drift scores are NaN for {', '.join(nan)}; scores must be numbers")
    if not judged:
        why = "all scored features are excluded" if scores else "no feature has drift scores in this window"
        return HEALTH_STATUS.UNKNOWN, f"unknown: {why}"

    def is_high(name: str) -> bool:
        return not importance or name not in importance or importance[name] >= settings.importance_threshold

    # Highest score first, so the message leads with what to look at.
    drifted = sorted(
        ((name, score) for name, score in judged.items() if score >= threshold),
        key=lambda item: (-item[1], item[0]),
    )
    high = [(n, s) for n, s in drifted if is_high(n)]
    low = [(n, s) for n, s in drifted if not is_high(n)]

    low_failing = settings.low_importance_failing_count
    failing = len(high) >= settings.high_importance_failing_count or (
        low_failing is not None and len(low) >= low_failing
    )
    warning = (
        len(high) >= settings.high_importance_warning_count
        or len(low) >= settings.low_importance_warning_count
    )
    status = HEALTH_STATUS.FAILING if failing else HEALTH_STATUS.WARNING if warning else HEALTH_STATUS.PASSING

    if not drifted:
        top_name, top_score = max(judged.items(), key=lambda item: (item[1], item[0]))
        return status, (
            f"passing: no feature drifted ({len(judged)} checked; highest {top_name} "
            f"{metric}={top_score:.3g}, threshold {threshold:g})"
        )
    parts = [_describe(group, items, metric) for group, items in (("high", high), ("low", low)) if items]
    message = f"{status.value}: {'; '.join(parts)} (threshold {threshold:g})"
    if status is HEALTH_STATUS.PASSING:
        # Drifted, but fewer than the configured counts: say so, or it reads as a bug.
        message += " - below the configured warning counts"
    return status, message
