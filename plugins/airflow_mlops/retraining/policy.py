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

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, Strict, WithJsonSchema, model_validator

from airflow_mlops.durations import Duration
from airflow_mlops.enums import MODEL_REPLACEMENT_REASON
from airflow_mlops.settings_model import SettingsModel, rule_error

__all__ = ["RetrainingPolicy", "retraining_policy"]


#: A name or a path: null, or text that is not empty.
Text = Annotated[str, Field(min_length=1)]


def _reason(value: str) -> str:
    """A MODEL_REPLACEMENT_REASON value (kept as text: it is compared with text and written in messages)."""
    valid = [r.value for r in MODEL_REPLACEMENT_REASON]
    if value not in valid:
        raise rule_error(f"Input should be {', '.join(map(repr, valid[:-1]))} or {valid[-1]!r}")
    return str(value)


def _in_enum_order(reasons: tuple[str, ...]) -> tuple[str, ...]:
    """Each reason once, in the enum's order, whatever order they were given in."""
    return tuple(r.value for r in MODEL_REPLACEMENT_REASON if r.value in reasons)


def _cron(value: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise rule_error("Input should be a cron expression such as '0 3 * * 1', or null")
    return value


class RetrainingPolicy(SettingsModel):
    """The deployment's ``retraining`` settings section; every field has its default here."""

    model_config = ConfigDict(frozen=True)

    source: Text | None = None
    trigger_reasons: Annotated[
        tuple[
            Annotated[
                str,
                AfterValidator(_reason),
                WithJsonSchema({"type": "string", "enum": [r.value for r in MODEL_REPLACEMENT_REASON]}),
            ],
            ...,
        ],
        Strict(False),  # a list is fine: JSON, the store and people write lists
        AfterValidator(_in_enum_order),
    ] = tuple(r.value for r in MODEL_REPLACEMENT_REASON)
    data_window: Duration | None = None
    timestamp_column: Text | None = None
    cool_down: Duration = timedelta(hours=24)
    replacement: Literal["automatic", "approval"] = "automatic"
    margin: Annotated[float, Field(ge=0)] = 0.0
    metric: Text | None = None
    refresh_schedule: Annotated[str, AfterValidator(_cron)] | None = None

    @model_validator(mode="after")
    def _window_needs_a_time(self) -> RetrainingPolicy:
        if self.data_window is not None and self.timestamp_column is None:
            raise rule_error("data_window needs timestamp_column (the source column giving each row's time)")
        return self

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> RetrainingPolicy:
        """From a deployment's whole settings document; fields it lacks take their defaults."""
        return cls.model_validate(settings.get("retraining") or {}, by_name=True, by_alias=False)

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
