"""Monitoring shortcuts on a deployment, in DataRobot's names (``get_service_stats``, ``get_feature_drift``…).

Each fills in what the deployment knows (its id, current model version, drift
settings and default metric) and asks :mod:`airflow_mlops.monitoring.reads`.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import select

from airflow_mlops.deployments.overview import Report, latest_reports
from airflow_mlops.monitoring.actuals import submit_actuals
from airflow_mlops.monitoring.reads import (
    get_accuracy,
    get_accuracy_over_time,
    get_drift_over_time,
    get_fairness,
    get_fairness_scores_over_time,
    get_feature_histogram,
    get_humility_stats_over_time,
    get_predictions_vs_actuals_over_time,
    get_service_stats,
    get_service_stats_over_time,
    get_target_drift,
    list_feature_drift,
    model_version_of,
)
from airflow_mlops.store import HealthRow, session_scope


def _binary_class_names(model_id: str) -> tuple[str, str] | None:
    """A binary model's (negative, positive) class names from the registry (None: it does not say)."""
    from airflow_mlops.config import get_settings
    from airflow_mlops.registry import ModelRef, get_model_version

    ref = ModelRef.parse(model_id)
    settings = get_settings()
    try:
        classes = get_model_version(
            ref.name,
            ref.version,
            tracking_uri=settings.mlflow_tracking_uri,
            registry_uri=settings.mlflow_registry_uri,
        ).classes
    except Exception:  # the registry cannot answer: the read still answers, with 0/1 for names
        return None
    return (str(classes[0]), str(classes[-1])) if classes and len(classes) == 2 else None


class MonitoringShortcuts:
    """The monitoring half of :class:`~airflow_mlops.deployments.Deployment` (a mixin, to keep modules small)."""

    id: str
    store_url: str
    model: dict[str, Any]
    settings: dict[str, Any]

    def get_service_stats(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        execution_time_quantile: float = 0.5,
        response_time_quantile: float = 0.5,
    ) -> Any:
        """Every SERVICE_STAT_METRIC over the window (default: the 7 days before the next hour)."""

        return get_service_stats(
            self.id,
            store_url=self.store_url,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
            execution_time_quantile=execution_time_quantile,
            response_time_quantile=response_time_quantile,
        )

    def get_service_stats_over_time(
        self,
        metric: str = "totalPredictions",
        bucket_size: str = "PT1H",
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        quantile: float = 0.5,
    ) -> Any:
        """One service metric per bucket; ``.bucket_values`` maps bucket starts to values."""

        return get_service_stats_over_time(
            self.id,
            store_url=self.store_url,
            metric=metric,
            bucket_size=bucket_size,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
            quantile=quantile,
        )

    def _drift_args(self, model_id: str | None) -> dict[str, Any]:

        return {
            "store_url": self.store_url,
            "version": model_version_of(model_id) or self.model["version"],
            "default_metric": self.settings["health"]["data_drift"].get("metric", "psi"),
        }

    def get_target_drift(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        metric: str | None = None,
    ) -> Any:
        """Drift of the predictions against the baseline's (None score when target drift is off)."""

        return get_target_drift(
            self.id,
            metric=metric,
            start_time=start_time,
            end_time=end_time,
            enabled=self.settings["drift_tracking"]["target_drift"]["enabled"],
            **self._drift_args(model_id),
        )

    def get_feature_drift(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        metric: str | None = None,
    ) -> builtins.list[Any]:
        """Per feature drift with its importance; [] when feature drift tracking is off."""

        return list_feature_drift(
            self.id,
            metric=metric,
            start_time=start_time,
            end_time=end_time,
            enabled=self.settings["drift_tracking"]["feature_drift"]["enabled"],
            **self._drift_args(model_id),
        )

    def get_drift_over_time(
        self,
        feature: str,
        metric: str | None = None,
        bucket_size: str = "P1D",
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """One feature's (or, by the target's name, the predictions') drift per bucket."""

        return get_drift_over_time(
            self.id,
            feature=feature,
            metric=metric,
            bucket_size=bucket_size,
            start_time=start_time,
            end_time=end_time,
            **self._drift_args(model_id),
        )

    def get_feature_histogram(
        self,
        feature: str,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """A feature's (or the target's) baseline and window histograms on the baseline's bins."""

        args = self._drift_args(model_id)
        return get_feature_histogram(
            self.id,
            store_url=args["store_url"],
            version=args["version"],
            feature=feature,
            start_time=start_time,
            end_time=end_time,
        )

    def get_accuracy(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """Every ACCURACY_METRIC of the target type over the window, from joined actuals."""

        return get_accuracy(
            self.id,
            store_url=self.store_url,
            target_type=self.model["target_type"],
            model_id=model_id,
            current_version=self.model["version"],
            start_time=start_time,
            end_time=end_time,
        )

    def get_accuracy_over_time(
        self,
        metric: str | None = None,
        bucket_size: str = "P1D",
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """One accuracy metric per bucket; ``.bucket_values`` maps bucket starts to values."""

        return get_accuracy_over_time(
            self.id,
            store_url=self.store_url,
            target_type=self.model["target_type"],
            metric=metric,
            bucket_size=bucket_size,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
        )

    def get_fairness(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        protected_feature: str | None = None,
        fairness_metric: str | None = None,
    ) -> Any:
        """Every protected feature's group scores (the settings' metric set) over the window, and their health."""

        return get_fairness(
            self.id,
            store_url=self.store_url,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
            protected_feature=protected_feature,
            fairness_metric=fairness_metric,
        )

    def get_fairness_scores_over_time(
        self,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        bucket_size: str = "P1D",
        model_id: str | None = None,
        protected_feature: str | None = None,
        fairness_metric: str | None = None,
    ) -> Any:
        """DataRobot's ``get_fairness_scores_over_time``: one feature and metric, per bucket."""

        return get_fairness_scores_over_time(
            self.id,
            store_url=self.store_url,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
            bucket_size=bucket_size,
            protected_feature=protected_feature,
            fairness_metric=fairness_metric,
        )

    def get_predictions_vs_actuals_over_time(
        self,
        bucket_size: str = "P1D",
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """Per bucket: predictions, those with an actual, mean predicted vs actual (and class counts)."""
        class_names = None
        if self.model["target_type"] == "Binary":
            class_names = _binary_class_names(self.model["id"])
        return get_predictions_vs_actuals_over_time(
            self.id,
            store_url=self.store_url,
            target_type=self.model["target_type"],
            bucket_size=bucket_size,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
            class_names=class_names,
        )

    def get_humility_stats_over_time(
        self,
        bucket_size: str = "P1D",
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """Per bucket: rows checked by prediction warnings, those flagged outliers, and the share."""
        return get_humility_stats_over_time(
            self.id,
            store_url=self.store_url,
            bucket_size=bucket_size,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
        )

    def submit_actuals(self, data: Any, batch_size: int = 10000) -> dict[str, int]:
        """Store actual outcomes (``association_id``, ``actual_value``, optional ``timestamp``, ``was_acted_on``).

        They are joined to predictions by association id on the next monitoring
        pass; the answer counts ids no logged prediction carries yet (kept, joined later).
        """

        return submit_actuals(
            self.id,
            data,
            target_type=self.model["target_type"],
            store_url=self.store_url,
            batch_size=batch_size,
        )

    def get_health_history(self, kind: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Stored health verdicts, newest first (``kind``: service, drift, accuracy or fairness)."""
        kinds = ["service", "drift", "accuracy", "fairness"]
        if kind is not None and kind not in kinds:
            raise ValueError(f"kind={kind!r} is not valid; expected one of {kinds}")
        query = select(HealthRow).where(HealthRow.deployment_id == self.id)
        if kind is not None:
            query = query.where(HealthRow.kind == kind)
        with session_scope(self.store_url) as session:
            rows = list(session.scalars(query.order_by(HealthRow.id.desc()).limit(limit)))
        return [
            {
                "kind": r.kind,
                "status": r.status,
                "message": r.message,
                "start_date": r.window_start.isoformat(),
                "end_date": r.window_end.isoformat(),
                "evaluated_at": r.evaluated_at.isoformat(),
                "details": r.details,
            }
            for r in rows
        ]

    def get_monitoring_reports(self) -> builtins.list[dict[str, Any]]:
        """The Evidently reports of past monitoring runs (MLflow artifact URIs), newest first."""
        return [
            {"uri": h["details"]["report_uri"], "start_date": h["start_date"], "end_date": h["end_date"]}
            for h in self.get_health_history(kind="drift", limit=1000)
            if h["details"].get("report_uri")
        ]

    def get_latest_report(self) -> Report | None:
        """The newest monitoring pass's Evidently report (its artifact URI and time), if any pass wrote one."""
        return latest_reports(self.store_url, [self.id]).get(self.id)
