"""One monitoring pass for one deployment: fold new predictions, measure drift, set health."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_mlops.config import Settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.enums import HEALTH_STATUS
from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.fold import fold_new_predictions
from airflow_mlops.monitoring.health import DriftHealthSettings, drift_health
from airflow_mlops.monitoring.windows import drift_scores, predictions_per_hour
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
    progress: Callable[[str], None] | None = None,
) -> MonitorResult:
    """Fold what arrived since the last pass, then judge drift over the window ending at ``window_end``."""
    if window_hours < 1:
        raise ValueError(f"window_hours={window_hours!r} is not valid; expected an integer >= 1")
    deployment = Deployment.get(deployment_id, store_url=settings.store_url)
    summary = fold_new_predictions(
        deployment_id, store_url=settings.store_url, log_root=settings.prediction_log_dir, progress=progress
    )
    end = top_of_hour(window_end + timedelta(minutes=59, seconds=59))
    start = end - timedelta(hours=window_hours)
    version = deployment.model["version"]
    raw = deployment.get_baseline(version)
    baseline = None if raw is None else Baseline.from_dict(raw)
    target = deployment.model["target_name"]
    health = health_settings or drift_health_settings(deployment.settings)
    scores: dict[str, float] = {}
    sizes: dict[str, int] = {}
    if baseline is not None:
        # Scored with the metric health judges (and names in its message), not a fixed PSI.
        scores, sizes = drift_scores(
            settings.store_url, deployment_id, version, baseline, start, end, metric=health.metric
        )
    target_drift = scores.pop(target, None)
    tracking = deployment.settings.get("drift_tracking", {})
    if not tracking.get("feature_drift", {}).get("enabled", True):
        scores = {}
    if not tracking.get("target_drift", {}).get("enabled", True):
        target_drift = None
    if baseline is None:
        status, message = HEALTH_STATUS.UNKNOWN, "unknown: this model version has no baseline"
    else:
        status, message = drift_health(scores, baseline.importance, health)
    with session_scope(settings.store_url) as session:
        session.add(
            HealthRow(
                deployment_id=deployment_id,
                kind="drift",
                status=status.value,
                message=message,
                window_start=start,
                window_end=end,
                details={"scores": scores, "target_drift": target_drift, "model_version": version},
                evaluated_at=datetime.now(UTC),
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
    )


def drift_health_settings(settings: dict[str, Any]) -> DriftHealthSettings:
    """The deployment's data-drift health settings as the health rule takes them."""
    drift = dict(settings.get("health", {}).get("data_drift", {}))
    for key in ("time_interval", "starred_features"):  # about the window and the UI, not the rule
        drift.pop(key, None)
    return DriftHealthSettings(**drift)
