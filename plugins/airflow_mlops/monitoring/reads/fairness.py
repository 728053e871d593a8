"""Fairness of a window, or over time, from the hourly group buckets (``fairness_hours``).

Reads follow the other monitoring reads (windows, bucket sizes, ``model_id``)
and the deployment's ``bias_and_fairness`` settings: which features, the
favourable class, the metric set and the threshold. The favourable class is
applied at read time (buckets count against the model's positive class), so a
changed favourable class re-reads every stored hour correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from airflow_mlops.monitoring.fairness import (
    FairnessScores,
    GroupCounts,
    fairness_health,
    is_label,
    metric_fn,
    metrics_of,
    score_feature,
)
from airflow_mlops.monitoring.fairness_buckets import hourly_group_counts, window_group_counts
from airflow_mlops.monitoring.fairness_settings import FairnessSettings
from airflow_mlops.monitoring.reads.window import (
    bucket_bounds,
    bucket_index,
    model_version_of,
    period_of,
    resolve_window,
)
from airflow_mlops.store import BaselineRow, DeploymentRow, session_scope

__all__ = ["Fairness", "FairnessOverTime", "get_fairness", "get_fairness_scores_over_time"]


@dataclass
class Fairness:
    """Every protected feature's scores in every metric of the set, and the health they give."""

    deployment_id: str
    model_id: str | None
    period: dict[str, str]
    settings: FairnessSettings
    scores: list[FairnessScores]
    status: str
    message: str

    def feature(self, name: str, metric: str | None = None) -> FairnessScores:
        for s in self.scores:
            if s.feature == name and (metric is None or s.metric == metric):
                return s
        raise KeyError(f"no fairness scores for feature {name!r} and metric {metric!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "modelId": self.model_id,
            "period": self.period,
            "fairnessThreshold": self.settings.fairness_threshold,
            "fairnessMetricsSet": self.settings.fairness_metrics_set,
            "favorableTargetOutcome": self.settings.preferable_target_value,
            "status": self.status,
            "message": self.message,
            "features": [s.to_json() for s in self.scores],
        }


@dataclass
class FairnessOverTime:
    """DataRobot's ``fairnessScoresOverTime/`` for one protected feature and one metric."""

    deployment_id: str
    model_id: str | None
    protected_feature: str
    metric: str
    bucket_size: str
    settings: FairnessSettings
    summary: FairnessScores
    period: dict[str, str]
    buckets: list[tuple[dict[str, str], FairnessScores]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """DataRobot's shape: ``summary`` and ``buckets`` of ``{period, metricName, scores}``."""
        return {
            "protectedFeature": self.protected_feature,
            "fairnessThreshold": self.settings.fairness_threshold,
            "modelId": self.model_id,
            "modelPackageId": self.model_id,
            "favorableTargetOutcome": self.settings.preferable_target_value,
            "summary": _bucket_json(self.period, self.summary),
            "buckets": [_bucket_json(period, scores) for period, scores in self.buckets],
        }


def _bucket_json(period: dict[str, str], scores: FairnessScores) -> dict[str, Any]:
    """One bucket in DataRobot's shape, and ``passed`` (each group's verdict) beside ``scores``.

    DataRobot's client refuses a score with a key it does not know or a null
    value, so groups without a value are left out and the verdicts are kept
    outside the scores (a bucket may carry more keys).
    """
    summary = scores.to_json()
    listed = [
        {
            **{k: v for k, v in score.items() if k != "passed"},
            "classesCount": summary["classesCount"],
            "healthyClassesCount": summary["healthyClassesCount"],
            **({"privilegedClass": scores.privileged} if scores.privileged is not None else {}),
        }
        for score in summary["scores"]
        if score["absoluteValue"] is not None
    ]
    passed = {score["label"]: score["passed"] for score in summary["scores"] if score["passed"] is not None}
    return {"period": period, "metricName": scores.metric, "scores": listed, "passed": passed}


def _context(
    store_url: str, deployment_id: str, model_id: str | None
) -> tuple[FairnessSettings, bool, str | None]:
    """The settings, whether the favourable class is the model's positive class, and the version read."""
    version = model_version_of(model_id)
    with session_scope(store_url) as session:
        row = session.get(DeploymentRow, deployment_id)
        if row is None:
            raise LookupError(f"deployment {deployment_id!r} not found")
        settings = FairnessSettings.model_validate(
            (row.settings or {}).get("bias_and_fairness") or {}, by_name=True, by_alias=False
        )
        baseline = session.scalars(
            select(BaselineRow).where(
                BaselineRow.deployment_id == deployment_id,
                BaselineRow.model_version == (version or row.model_version),
            )
        ).first()
    positive = None if baseline is None else (baseline.baseline or {}).get("positive_class")
    favourable_is_positive = is_label(
        settings.preferable_target_value, None if positive is None else str(positive)
    )
    return settings, favourable_is_positive, version


def _metrics(settings: FairnessSettings, metric: str | None) -> tuple[str, ...]:
    if metric is None:
        return metrics_of(settings)
    metric_fn(metric)  # a clear error for an unknown name
    return (metric,)


def _features(settings: FairnessSettings, feature: str | None) -> list[str]:
    if not settings.enabled:
        raise ValueError(
            "bias and fairness monitoring is off: set protected features first (bias_and_fairness)"
        )
    if feature is None:
        return list(settings.protected_features)
    if feature not in settings.protected_features:
        raise ValueError(
            f"protected_feature={feature!r} is not valid; expected one of {settings.protected_features}"
        )
    return [feature]


def get_fairness(
    deployment_id: str,
    *,
    store_url: str,
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    protected_feature: str | None = None,
    fairness_metric: str | None = None,
) -> Fairness:
    """Each protected feature's groups in each metric of the set (or ``fairness_metric``) over a window."""
    settings, favourable_is_positive, version = _context(store_url, deployment_id, model_id)
    features = _features(settings, protected_feature)
    metrics = _metrics(settings, fairness_metric)
    start, end = resolve_window(start_time, end_time)
    counts = window_group_counts(store_url, deployment_id, start, end, version=version, features=features)
    scores = [
        score_feature(
            feature,
            metric,
            counts.get(feature, {}),
            favourable_is_positive=favourable_is_positive,
            threshold=settings.fairness_threshold,
            min_group_rows=settings.min_group_rows,
        )
        for feature in features
        for metric in metrics
    ]
    status, message = fairness_health(scores, settings)
    return Fairness(deployment_id, model_id, period_of(start, end), settings, scores, str(status), message)


def get_fairness_scores_over_time(
    deployment_id: str,
    *,
    store_url: str,
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    bucket_size: str = "P1D",
    protected_feature: str | None = None,
    fairness_metric: str | None = None,
) -> FairnessOverTime:
    """One feature (default: the first protected) in one metric (default: the set's first), per bucket."""
    settings, favourable_is_positive, version = _context(store_url, deployment_id, model_id)
    feature = _features(settings, protected_feature)[0]
    metric = _metrics(settings, fairness_metric)[0]
    start, end = resolve_window(start_time, end_time)
    bounds = bucket_bounds(start, end, bucket_size)
    hourly = hourly_group_counts(store_url, deployment_id, start, end, version=version, features=[feature])
    per_bucket: list[dict[str, GroupCounts]] = [{} for _ in bounds]
    total: dict[str, GroupCounts] = {}
    for (hour, group), counts in hourly.get(feature, {}).items():
        assert hour is not None
        for target in (per_bucket[bucket_index(bounds, hour)], total):
            target.setdefault(group, GroupCounts()).add(counts)

    def score(counts: dict[str, GroupCounts]) -> FairnessScores:
        return score_feature(
            feature,
            metric,
            counts,
            favourable_is_positive=favourable_is_positive,
            threshold=settings.fairness_threshold,
            min_group_rows=settings.min_group_rows,
        )

    result = FairnessOverTime(
        deployment_id, model_id, feature, metric, bucket_size, settings, score(total), period_of(start, end)
    )
    for (lo, hi), in_bucket in zip(bounds, per_bucket, strict=True):
        result.buckets.append((period_of(lo, hi), score(in_bucket)))
    return result
