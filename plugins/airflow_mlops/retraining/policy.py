"""The retraining policy: when a deployment may be retrained and how a challenger takes over.

It lives in the deployment's settings (section ``retraining``), so it is changed
like every other setting (Python, REST ``PATCH settings/``, audit-logged) and
read by everything that acts on it: the monitor deciding whether a failing
health becomes a request, the scheduled refresh, and ``mlops_retrain`` judging
the challenger. Fields and why they exist:

* ``source``: where recent labelled data comes from (path or URL).
* ``trigger_reasons``: which MODEL_REPLACEMENT_REASON values may start a retrain;
  a team that only trusts accuracy drops ``DATA_DRIFT``.
* ``data_window`` + ``timestamp_column``: train on the last N days of the source
  (plus logged predictions joined with actuals), not on all history, so the
  challenger learns the present relation between features and target.
* ``cool_down``: after a request is accepted, automatic requests within this
  interval are recorded as suppressed; a flapping metric then retrains at most
  once per interval. A person's request bypasses it.
* ``replacement``: ``automatic`` swaps a better challenger in; ``approval`` keeps
  it waiting until an owner approves (``approve_request``).
* ``margin`` and ``metric``: the challenger must beat the champion on the same
  recent labelled data by at least ``margin`` on ``metric`` (in the metric's own
  direction); ``metric`` null means the accuracy-health metric or the task default.
* ``refresh_schedule``: a cron expression; ``mlops_refresh`` requests a
  ``SCHEDULED_REFRESH`` each time it fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_mlops.deployments.settings import parse_duration, with_defaults
from airflow_mlops.enums import MODEL_REPLACEMENT_REASON

__all__ = ["RetrainingPolicy", "retraining_policy"]


@dataclass(frozen=True)
class RetrainingPolicy:
    source: str | None
    trigger_reasons: tuple[str, ...]
    data_window: timedelta | None
    timestamp_column: str | None
    cool_down: timedelta
    replacement: str
    margin: float
    metric: str | None
    refresh_schedule: str | None

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> RetrainingPolicy:
        """From a deployment's whole settings document (defaults filled in)."""
        section = with_defaults(settings)["retraining"]
        window = section["data_window"]
        return cls(
            source=section["source"],
            trigger_reasons=tuple(section["trigger_reasons"]),
            data_window=None if window is None else parse_duration(window, "retraining.data_window"),
            timestamp_column=section["timestamp_column"],
            cool_down=parse_duration(section["cool_down"], "retraining.cool_down"),
            replacement=section["replacement"],
            margin=float(section["margin"]),
            metric=section["metric"],
            refresh_schedule=section["refresh_schedule"],
        )

    def triggers_on(self, reason: str | MODEL_REPLACEMENT_REASON) -> bool:
        return str(MODEL_REPLACEMENT_REASON(reason).value) in self.trigger_reasons

    def refresh_due(self, start: datetime, end: datetime) -> datetime | None:
        """The latest time in ``(start, end]`` at which ``refresh_schedule`` fires, if any.

        ``mlops_refresh`` asks this once per data interval, so each firing of the
        cron is seen by exactly one run however often that DAG is scheduled.
        """
        if not self.refresh_schedule:
            return None
        from croniter import croniter

        # get_prev is strictly before its base: a base just after ``end`` includes ``end`` itself.
        fire = croniter(self.refresh_schedule, end + timedelta(microseconds=1)).get_prev(datetime)
        return fire if fire > start else None


def retraining_policy(deployment: Any) -> RetrainingPolicy:
    """The policy of a :class:`~airflow_mlops.deployments.Deployment`."""
    return RetrainingPolicy.from_settings(deployment.settings)
