"""The ``health`` settings section: service, data drift and accuracy thresholds.

These models are both what a deployment stores (``settings["health"]``, checked
by ``Deployment.update_health_settings`` and the REST ``healthSettings/``) and
what the health rules in :mod:`.health` take, so a threshold is defined,
defaulted and validated once. A few fields are for the window or the UI rather
than the rule (``batch_count``, ``time_interval``, ``starred_features``); the
rules ignore them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from airflow_mlops.durations import Duration
from airflow_mlops.monitoring.drift import drift_metric_names
from airflow_mlops.settings_model import SettingsModel, rule_error

__all__ = ["AccuracyHealthSettings", "DriftHealthSettings", "HealthSettings", "ServiceHealthSettings"]

#: A share of the window's requests.
Rate = Annotated[float, Field(ge=0, le=1)]
#: How many features (or requests) it takes.
Count = Annotated[int, Field(ge=1)]


def _registered_metric(name: str) -> str:
    """A name in the drift metric registry (checked when validated: plugins may register more)."""
    names = drift_metric_names()
    if name not in names:
        raise rule_error(f"Input should be a registered drift metric: {', '.join(map(repr, names))}")
    return name


class ServiceHealthSettings(SettingsModel):
    """Service health thresholds on rates of requests in the window (configurable defaults).

    DataRobot publishes no numbers for these, so the project chooses: server
    errors (5xx, our fault) alert early - 1% warns, 5% fails; user errors (4xx,
    usually a client sending bad rows) warn at 5% and fail at 20%; slow requests
    (> 1000 ms) warn at 5% and fail at 20%. ``min_requests`` (default 1) is the
    traffic below which the window is ``unknown``: no requests, no verdict. The
    median response time thresholds (``response_time_*_ms``, on the window's
    median per-request ``responseTime``) are off by default:
    what is slow depends on the model, so a team sets them when it knows.

    Two failing checks also name a retraining reason (:func:`.health.service_failures`):
    server errors are ``ERRORS`` and slow or late answers are ``SCORING_SPEED``.
    User errors name none: a client sending bad rows is not the model's fault.
    """

    #: How many batches the UI shows (not part of the rule).
    batch_count: Count = 5
    server_error_warning: Rate = 0.01
    server_error_failing: Rate = 0.05
    user_error_warning: Rate = 0.05
    user_error_failing: Rate = 0.20
    slow_warning: Rate = 0.05
    slow_failing: Rate = 0.20
    response_time_warning_ms: Annotated[float, Field(ge=0)] | None = None
    response_time_failing_ms: Annotated[float, Field(ge=0)] | None = None
    min_requests: Count = 1

    @model_validator(mode="after")
    def _warning_before_failing(self) -> ServiceHealthSettings:
        pairs = [(f"{kind}_warning", f"{kind}_failing") for kind in ("server_error", "user_error", "slow")]
        pairs.append(("response_time_warning_ms", "response_time_failing_ms"))
        for warning, failing in pairs:
            warn, fail = getattr(self, warning), getattr(self, failing)
            if warn is not None and fail is not None and warn > fail:
                raise rule_error(f"{warning} ({warn:g}) must not exceed {failing} ({fail:g})")
        return self


class DriftHealthSettings(SettingsModel):
    """How a feature is judged drifted, and how drifted features become a status (see :mod:`.health`).

    ``rule`` picks the per-feature judgement (:mod:`.drift_rule`): ``distribution``
    (the default) compares the distributions with sample-size-aware tests and
    effect sizes (``significance_level``, ``wasserstein_threshold``,
    ``ks_threshold``, ``js_distance_threshold``, ``share_rise_threshold``);
    ``threshold`` is DataRobot's rule, ``metric`` >= ``drift_threshold`` (PSI >=
    0.15 by default). The importance split and the counts apply to both.
    """

    #: The window drift is judged over (not part of the rule).
    time_interval: Duration = timedelta(days=7)
    #: ``distribution``: :func:`.drift_rule.judge_features`'s tests; ``threshold``: ``metric`` >= ``drift_threshold``.
    rule: Literal["distribution", "threshold"] = "distribution"
    #: ``threshold`` rule: a feature is drifted when its score is >= this (on ``metric``'s scale).
    drift_threshold: Annotated[float, Field(ge=0)] = 0.15
    #: ``distribution`` rule: the false-alarm probability each test allows per feature and window.
    significance_level: Annotated[float, Field(gt=0, lt=0.5)] = 1e-6
    #: ``distribution`` rule: normed Wasserstein distance (in baseline standard deviations) that is drift.
    wasserstein_threshold: Annotated[float, Field(gt=0)] = 0.1
    #: ``distribution`` rule: Kolmogorov-Smirnov statistic that is drift even when the Wasserstein is small.
    ks_threshold: Annotated[float, Field(gt=0, le=1)] = 0.03
    #: ``distribution`` rule: Jensen-Shannon distance (natural log) of a categorical feature that is drift.
    js_distance_threshold: Annotated[float, Field(gt=0, le=1)] = 0.07
    #: ``distribution`` rule: rise of the missing share, or of the share of values the baseline never
    #: saw (new categories, numbers outside the training range), that is drift.
    share_rise_threshold: Annotated[float, Field(gt=0, le=1)] = 0.01
    #: Features with importance >= this are high importance. Without any known
    #: importance every feature is treated as high importance (we cannot tell an
    #: unimportant feature from an unmeasured one, so err on the side of alerting).
    importance_threshold: Annotated[float, Field(ge=0)] = 0.5
    #: Drifted low-importance features needed for a warning.
    low_importance_warning_count: Count = 1
    #: Drifted low-importance features needed to fail; None: they never fail.
    low_importance_failing_count: Count | None = None
    #: Drifted high-importance features needed for a warning.
    high_importance_warning_count: Count = 1
    #: Drifted high-importance features needed to fail.
    high_importance_failing_count: Count = 1
    #: Features never judged (IDs, timestamps, features known to drift by design).
    excluded_features: list[str] = Field(default_factory=list)
    #: Features the UI shows first (not part of the rule).
    starred_features: list[str] = Field(default_factory=list)
    #: Registered drift metric the scores are computed with (the ``threshold`` rule judges it).
    metric: Annotated[str, AfterValidator(_registered_metric)] = Field(
        default="psi",
        description="A registered drift metric: psi, kl_divergence, dissimilarity, hellinger, js_divergence, "
        "wasserstein, ks, js_distance or one a plugin registered.",
    )


class AccuracyHealthSettings(SettingsModel):
    """How much worse than the holdout the window's metric may get (see :func:`.health.accuracy_health`)."""

    #: None: the task's default accuracy metric.
    metric: str | None = None
    #: ``percent``: relative to the holdout value; ``value``: in the metric's own units.
    measurement: Literal["percent", "value"] = "percent"
    warning_threshold: Annotated[float, Field(ge=0)] = 0.1
    failing_threshold: Annotated[float, Field(ge=0)] = 0.2

    @model_validator(mode="after")
    def _warning_before_failing(self) -> AccuracyHealthSettings:
        if self.warning_threshold > self.failing_threshold:
            raise rule_error(
                f"warning_threshold ({self.warning_threshold:g}) must not exceed "
                f"failing_threshold ({self.failing_threshold:g})"
            )
        return self


class HealthSettings(SettingsModel):
    """The deployment's ``health`` settings section."""

    service: ServiceHealthSettings = Field(default_factory=ServiceHealthSettings)
    data_drift: DriftHealthSettings = Field(default_factory=DriftHealthSettings)
    accuracy: AccuracyHealthSettings = Field(default_factory=AccuracyHealthSettings)
