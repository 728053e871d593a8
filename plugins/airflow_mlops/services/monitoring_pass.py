"""One monitoring pass for one deployment: fold, join actuals, judge service, drift, accuracy and fairness.

Every pass stores one health row per kind (``service``, ``drift``,
``accuracy``, ``fairness``), so health has a history; the Evidently report's URI (when one
was written) is kept in each row's details.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_mlops.config import Settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring.accuracy import default_accuracy_metric, get_accuracy_metric
from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.compaction import compact_prediction_log
from airflow_mlops.monitoring.drift import feature_drift
from airflow_mlops.monitoring.drift_rule import FeatureVerdict, judge_features
from airflow_mlops.monitoring.fold import fold_new_predictions, join_actuals
from airflow_mlops.monitoring.health import (
    DriftHealthSettings,
    ServiceHealthSettings,
    accuracy_health,
    drift_health,
    service_failures,
    service_health,
)
from airflow_mlops.monitoring.reads import (
    TASK_OF,
    get_accuracy,
    get_fairness,
    get_service_stats,
    window_counts,
)
from airflow_mlops.monitoring.retention import apply_log_retention
from airflow_mlops.monitoring.windows import predictions_per_hour
from airflow_mlops.retraining import request_from_monitoring, retraining_policy
from airflow_mlops.store import HealthRow, session_scope


@dataclass
class MonitorResult:
    deployment_id: str
    model_version: str
    window_start: datetime
    window_end: datetime
    folded_rows: int
    predictions_per_hour: dict[datetime, int]
    drift: dict[str, float]
    target_drift: float | None
    sample_sizes: dict[str, int]
    drift_status: str
    drift_message: str
    service_status: str = "unknown"
    service_message: str = ""
    service_stats: dict[str, Any] | None = None
    accuracy_status: str = "unavailable"
    accuracy_message: str = ""
    accuracy: dict[str, float | None] | None = None
    actuals_joined: int = 0
    actuals_pending: int = 0
    report_uri: str | None = None
    #: Failing service checks that name a retraining reason (ERRORS, SCORING_SPEED), with why.
    service_failures: dict[str, str] | None = None
    #: What this pass's compaction and retention did to the raw log (:func:`maintain_prediction_log`).
    log_lifecycle: dict[str, int] | None = None
    #: Per feature, the drift rule's verdict (what drift health judged), JSON-safe.
    drift_verdicts: dict[str, dict[str, Any]] | None = None
    fairness_status: str = "unknown"
    fairness_message: str = ""
    #: The window's fairness scores (``Fairness.to_json()["features"]``) when fairness is on.
    fairness: list[dict[str, Any]] | None = None

    def to_xcom(self) -> dict[str, Any]:
        """Small, JSON-safe: what a downstream task or a person needs."""
        return {
            "deployment_id": self.deployment_id,
            "model_version": self.model_version,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "folded_rows": self.folded_rows,
            "predictions_per_hour": {h.isoformat(): n for h, n in self.predictions_per_hour.items()},
            "drift": {k: round(v, 6) for k, v in self.drift.items()},
            "target_drift": self.target_drift,
            "drift_status": self.drift_status,
            "drift_message": self.drift_message,
            "drift_verdicts": self.drift_verdicts or {},
            "service_status": self.service_status,
            "service_message": self.service_message,
            "service_stats": self.service_stats,
            "service_failures": self.service_failures or {},
            "accuracy_status": self.accuracy_status,
            "accuracy_message": self.accuracy_message,
            "accuracy": self.accuracy,
            "actuals_joined": self.actuals_joined,
            "actuals_pending": self.actuals_pending,
            "report_uri": self.report_uri,
            "log_lifecycle": self.log_lifecycle or {},
            "fairness_status": self.fairness_status,
            "fairness_message": self.fairness_message,
            "fairness": self.fairness,
        }


def top_of_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def monitor_deployment(
    deployment_id: str,
    settings: Settings,
    *,
    window_end: datetime,
    window_hours: int = 24,
    health_settings: DriftHealthSettings | None = None,
    service_settings: ServiceHealthSettings | None = None,
    report: bool = False,
    progress: Callable[[str], None] | None = None,
) -> MonitorResult:
    """Fold what arrived since the last pass, then judge drift over the window ending at ``window_end``."""
    if window_hours < 1:
        raise ValueError(f"window_hours={window_hours!r} is not valid; expected an integer >= 1")
    deployment = Deployment.get(deployment_id, store_url=settings.store_url)
    summary = fold_new_predictions(
        deployment_id, store_url=settings.store_url, log_root=settings.prediction_log_dir, progress=progress
    )
    lifecycle = maintain_prediction_log(deployment_id, settings, progress=progress)
    end = top_of_hour(window_end + timedelta(minutes=59, seconds=59))
    start = end - timedelta(hours=window_hours)
    version = deployment.model["version"]
    raw = deployment.get_baseline(version)
    baseline = None if raw is None else Baseline.from_dict(raw)
    target = deployment.model["target_name"]
    health = health_settings or drift_health_settings(deployment.settings)
    scores: dict[str, float] = {}
    sizes: dict[str, int] = {}
    verdicts: dict[str, FeatureVerdict] = {}
    if baseline is not None:
        counts = window_counts(settings.store_url, deployment_id, version, start, end)
        # Scores in the settings' metric (what FeatureDrift.list shows); health judges the verdicts
        # of the rule the settings select, on the same counts.
        scores = feature_drift(baseline, counts, health.metric)
        sizes = {name: int(vector.sum()) for name, vector in counts.items()}
        verdicts = judge_features(baseline, {k: v for k, v in counts.items() if k != target}, health)
    target_drift = scores.pop(target, None)
    tracking = deployment.settings.get("drift_tracking", {})
    if not tracking.get("feature_drift", {}).get("enabled", True):
        scores, verdicts = {}, {}
    if not tracking.get("target_drift", {}).get("enabled", True):
        target_drift = None
    if baseline is None:
        status, message = HEALTH_STATUS.UNKNOWN, "unknown: this model version has no baseline"
    else:
        status, message = drift_health(verdicts, baseline.importance, health)
    verdict_details = {name: _verdict_dict(v) for name, v in verdicts.items()}
    joined = join_actuals(deployment_id, store_url=settings.store_url)
    stats = get_service_stats(
        deployment_id, store_url=settings.store_url, start_time=start, end_time=end
    ).metrics
    service_rule = service_settings or service_health_settings(deployment.settings)
    service_status, service_message = service_health(stats, service_rule)
    accuracy_status, accuracy_message, accuracy_values = _accuracy_verdict(deployment, settings, start, end)
    fairness_status, fairness_message, fairness_scores = _fairness_verdict(deployment, settings, start, end)
    report_uri = None
    if report and baseline is not None:
        from airflow_mlops.monitoring.report import log_report

        report_uri = log_report(
            deployment_id,
            baseline,
            log_root=settings.prediction_log_dir,
            start=start,
            end=end,
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=settings.mlflow_artifact_root,
        )
    now = datetime.now(UTC)
    common = {"model_version": version, "report_uri": report_uri}
    with session_scope(settings.store_url) as session:
        for kind, verdict, text, details in (
            ("service", service_status.value, service_message, {"stats": stats}),
            (
                "drift",
                status.value,
                message,
                {"scores": scores, "target_drift": target_drift, "verdicts": verdict_details},
            ),
            (
                "accuracy",
                accuracy_status,
                accuracy_message,
                {
                    "metrics": accuracy_values,
                    "actuals_joined": joined.joined,
                    "actuals_pending": joined.pending,
                },
            ),
            ("fairness", fairness_status, fairness_message, {"features": fairness_scores}),
        ):
            session.add(
                HealthRow(
                    deployment_id=deployment_id,
                    kind=kind,
                    status=verdict,
                    message=text,
                    window_start=start,
                    window_end=end,
                    details={**details, **common},
                    evaluated_at=now,
                )
            )
    return MonitorResult(
        deployment_id=deployment_id,
        model_version=version,
        window_start=start,
        window_end=end,
        folded_rows=summary.rows,
        predictions_per_hour=predictions_per_hour(settings.store_url, deployment_id, start, end),
        drift=scores,
        target_drift=target_drift,
        sample_sizes=sizes,
        drift_status=status.value,
        drift_message=message,
        service_status=service_status.value,
        service_message=service_message,
        service_stats=stats,
        accuracy_status=accuracy_status,
        accuracy_message=accuracy_message,
        accuracy=accuracy_values,
        actuals_joined=joined.joined,
        actuals_pending=joined.pending,
        report_uri=report_uri,
        service_failures=service_failures(stats, service_rule),
        log_lifecycle=lifecycle,
        drift_verdicts=verdict_details,
        fairness_status=fairness_status,
        fairness_message=fairness_message,
        fairness=fairness_scores,
    )


def _fairness_verdict(
    deployment: Deployment, settings: Settings, start: datetime, end: datetime
) -> tuple[str, str, list[dict[str, Any]] | None]:
    """Fairness health over the window from the ``bias_and_fairness`` settings; unknown while off."""
    section = deployment.settings.get("bias_and_fairness") or {}
    if not section.get("protected_features"):
        return (
            HEALTH_STATUS.UNKNOWN.value,
            "unknown: fairness monitoring is off (no protected features)",
            None,
        )
    result = get_fairness(deployment.id, store_url=settings.store_url, start_time=start, end_time=end)
    return result.status, result.message, result.to_json()["features"]


def maintain_prediction_log(
    deployment_id: str,
    settings: Settings,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Compact the deployment's closed hours, then apply the raw-row retention (both after the fold).

    Runs in every monitoring pass, after the fold, so only folded files are
    touched; the settings are ``MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES`` and
    ``MLOPS_PREDICTION_LOG_RETENTION_DAYS`` (:mod:`airflow_mlops.config`).
    """
    done: dict[str, int] = {}
    if settings.prediction_log_compact_after_minutes is not None:
        compacted = compact_prediction_log(
            deployment_id,
            store_url=settings.store_url,
            log_root=settings.prediction_log_dir,
            grace=timedelta(minutes=settings.prediction_log_compact_after_minutes),
            now=now,
            progress=progress,
        )
        done.update(
            compacted_hours=compacted.hours, compacted_files=compacted.files_in, compacted_rows=compacted.rows
        )
    expired = apply_log_retention(
        deployment_id,
        store_url=settings.store_url,
        log_root=settings.prediction_log_dir,
        retention_days=settings.prediction_log_retention_days,
        now=now,
        progress=progress,
    )
    if settings.prediction_log_retention_days is not None:
        done.update(expired_hours=expired.hours, expired_files=expired.files, expired_rows=expired.rows)
    return done


def _verdict_dict(verdict: FeatureVerdict) -> dict[str, Any]:
    """A verdict as stored with the health row and passed on in XCom (JSON-safe)."""
    return {
        "drifted": verdict.drifted,
        "statistic": verdict.statistic,
        "score": None if verdict.score is None else round(verdict.score, 6),
        "threshold": None if verdict.threshold is None else round(verdict.threshold, 6),
        "sample_size": verdict.sample_size,
        "reason": verdict.reason,
    }


def _accuracy_verdict(
    deployment: Deployment, settings: Settings, start: datetime, end: datetime
) -> tuple[str, str, dict[str, float | None]]:
    """Accuracy health over the window from the deployment's accuracy health settings."""
    task = TASK_OF.get(deployment.model["target_type"])
    if task is None:
        return HEALTH_STATUS.UNKNOWN.value, f"unknown: target type {deployment.model['target_type']!r}", {}
    acc_settings = deployment.settings.get("health", {}).get("accuracy", {})
    name = acc_settings.get("metric") or default_accuracy_metric(task)
    try:
        metric = get_accuracy_metric(name, task)
    except ValueError as exc:
        return HEALTH_STATUS.UNKNOWN.value, f"unknown: {exc}", {}
    result = get_accuracy(
        deployment.id,
        store_url=settings.store_url,
        target_type=deployment.model["target_type"],
        model_id=deployment.model["version"],
        start_time=start,
        end_time=end,
    )
    verdict, text = accuracy_health(
        result.metrics.get(name),
        result.baseline_metrics.get(name),
        metric=name,
        higher_is_better=metric.higher_is_better,
        measurement=acc_settings.get("measurement", "percent"),
        warning_threshold=float(acc_settings.get("warning_threshold", 0.1)),
        failing_threshold=float(acc_settings.get("failing_threshold", 0.2)),
        pairs=result.pairs_used,
    )
    if result.pending_actuals:
        text += f"; {result.pending_actuals} actuals wait for a prediction with their association id"
    return verdict.value, text, result.metrics


def drift_health_settings(settings: dict[str, Any]) -> DriftHealthSettings:
    """The deployment's data-drift health settings as the health rule takes them."""
    drift = dict(settings.get("health", {}).get("data_drift", {}))
    for key in ("time_interval", "starred_features"):  # about the window and the UI, not the rule
        drift.pop(key, None)
    return DriftHealthSettings(**drift)


def service_health_settings(settings: dict[str, Any]) -> ServiceHealthSettings:
    """The deployment's service health settings as the health rule takes them."""
    service = dict(settings.get("health", {}).get("service", {}))
    service.pop("batch_count", None)  # how many batches the UI shows, not part of the rule
    return ServiceHealthSettings(**service)


def monitor_and_request(
    deployment_id: str,
    settings: Settings,
    *,
    window_end: datetime,
    window_hours: int = 24,
    report: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One pass, then (if a health kind fails) one retraining request under the deployment's policy.

    Returns the pass summary (:meth:`MonitorResult.to_xcom`), with
    ``retrain_request`` (the request as a dict, ``requested`` or
    ``suppressed``) when something failed.
    """
    result = monitor_deployment(
        deployment_id,
        settings,
        window_end=window_end,
        window_hours=window_hours,
        report=report,
        progress=progress,
    )
    summary = result.to_xcom()
    policy = retraining_policy(Deployment.get(deployment_id, store_url=settings.store_url))
    request = request_from_monitoring(
        deployment_id, summary, trigger_reasons=policy.trigger_reasons, store_url=settings.store_url
    )
    if request is not None:
        summary["retrain_request"] = request.to_dict()
    return summary
