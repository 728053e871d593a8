"""Settings on a deployment, in DataRobot's names (``get_drift_tracking_settings``, ``update_health_settings``…).

Every updater goes through :func:`~airflow_mlops.deployments.settings.validate_section`
(one Pydantic model per section) inside ``Deployment._change``, so a change, its
validation and its audit record land in one transaction or not at all.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from airflow_mlops.config import get_settings
from airflow_mlops.deployments.settings import SettingsError, validate_section, with_defaults
from airflow_mlops.enums import MODEL_REPLACEMENT_REASON
from airflow_mlops.prediction_log import list_log_files
from airflow_mlops.registry import ModelRef, get_model_version, model_version_info
from airflow_mlops.retraining import list_requests, request_retraining
from airflow_mlops.store import DeploymentRow, ServiceBucketRow, session_scope


class SettingsShortcuts:
    """The settings half of :class:`~airflow_mlops.deployments.Deployment` (a mixin, to keep modules small)."""

    id: str
    store_url: str
    model: dict[str, Any]
    settings: dict[str, Any]

    if TYPE_CHECKING:

        def _change(self, action: str, actor: str | None, mutate: Any) -> None: ...

    def _update_settings(self, section: str, patch: dict[str, Any], actor: str | None) -> dict[str, Any]:
        features = (
            model_version_info(self.model["id"]).features
            if section in ("health", "bias_and_fairness")
            else None
        )
        classes = self._model_classes() if section == "bias_and_fairness" else None

        def mutate(row: DeploymentRow) -> None:
            current = with_defaults(row.settings)
            if (
                section == "association_id"
                and _has_predictions(self.id, self.store_url)
                and (
                    "column_names" in patch
                    and patch["column_names"] != current["association_id"]["column_names"]
                )
            ):
                raise SettingsError(
                    "association_id.column_names cannot change once the deployment has served predictions "
                    f"(it is {current['association_id']['column_names']})"
                )
            current[section] = validate_section(
                section, patch, current, target_type=row.target_type, features=features, classes=classes
            )
            row.settings = current

        self._change(f"settings.{section}", actor, mutate)
        return dict(self.settings[section])

    def _model_classes(self) -> builtins.list[Any] | None:
        """The model's classes from the registry (None when it records none)."""
        settings = get_settings()
        ref = ModelRef.parse(self.model["id"])
        version = get_model_version(
            ref.name,
            ref.version,
            tracking_uri=settings.mlflow_tracking_uri,
            registry_uri=settings.mlflow_registry_uri,
        )
        return version.classes

    def get_bias_and_fairness_settings(self) -> dict[str, Any] | None:
        """DataRobot's getter: None while no feature is protected (fairness off)."""
        section = dict(self.settings["bias_and_fairness"])
        return section if section["protected_features"] else None

    def update_bias_and_fairness_settings(
        self,
        protected_features: builtins.list[str],
        fairness_metric_set: str,
        fairness_threshold: float,
        preferable_target_value: bool | int | str,
        *,
        actor: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """DataRobot's signature; ``extra`` sets this project's health fields (``min_group_rows``…)."""
        patch = {
            "protected_features": protected_features,
            "fairness_metrics_set": fairness_metric_set,
            "fairness_threshold": fairness_threshold,
            "preferable_target_value": preferable_target_value,
            **extra,
        }
        return self._update_settings("bias_and_fairness", patch, actor)

    def get_drift_tracking_settings(self) -> dict[str, Any]:
        return dict(self.settings["drift_tracking"])

    def update_drift_tracking_settings(
        self,
        target_drift_enabled: bool | None = None,
        feature_drift_enabled: bool | None = None,
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        patch: dict[str, Any] = {}
        if target_drift_enabled is not None:
            patch["target_drift"] = {"enabled": target_drift_enabled}
        if feature_drift_enabled is not None:
            patch["feature_drift"] = {"enabled": feature_drift_enabled}
        return self._update_settings("drift_tracking", patch, actor)

    def get_association_id_settings(self) -> dict[str, Any]:
        return dict(self.settings["association_id"])

    def update_association_id_settings(
        self,
        column_names: builtins.list[str] | None = None,
        required_in_prediction_requests: bool | None = None,
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        patch: dict[str, Any] = {}
        if column_names is not None:
            patch["column_names"] = column_names
        if required_in_prediction_requests is not None:
            patch["required_in_prediction_requests"] = required_in_prediction_requests
        return self._update_settings("association_id", patch, actor)

    def get_predictions_data_collection_settings(self) -> dict[str, Any]:
        return dict(self.settings["predictions_data_collection"])

    def update_predictions_data_collection_settings(
        self, enabled: bool, *, actor: str | None = None
    ) -> dict[str, Any]:
        return self._update_settings("predictions_data_collection", {"enabled": enabled}, actor)

    def get_prediction_warning_settings(self) -> dict[str, Any]:
        return dict(self.settings["prediction_warning"])

    def update_prediction_warning_settings(
        self,
        prediction_warning_enabled: bool,
        use_default_boundaries: bool | None = None,
        lower_boundary: float | None = None,
        upper_boundary: float | None = None,
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """DataRobot's signature: default boundaries, or custom ``lower``/``upper`` ones."""
        patch: dict[str, Any] = {"enabled": prediction_warning_enabled}
        if use_default_boundaries:
            patch["custom_boundaries"] = None
        elif lower_boundary is not None or upper_boundary is not None:
            patch["custom_boundaries"] = {"lower": lower_boundary, "upper": upper_boundary}
        return self._update_settings("prediction_warning", patch, actor)

    def get_health_settings(self) -> dict[str, Any]:
        return dict(self.settings["health"])

    def update_health_settings(
        self,
        service: dict[str, Any] | None = None,
        data_drift: dict[str, Any] | None = None,
        accuracy: dict[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        patch = {
            k: v
            for k, v in (("service", service), ("data_drift", data_drift), ("accuracy", accuracy))
            if v is not None
        }
        return self._update_settings("health", patch, actor)

    def get_retraining_settings(self) -> dict[str, Any]:
        """The retraining policy (see :mod:`airflow_mlops.retraining.policy`)."""
        return dict(self.settings["retraining"])

    def update_retraining_settings(self, *, actor: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change fields of the retraining policy, e.g. ``cool_down="PT12H", replacement="approval"``."""
        return self._update_settings("retraining", changes, actor)

    def request_retraining(
        self,
        reason: str | MODEL_REPLACEMENT_REASON = "OTHER",
        *,
        note: str | None = None,
        actor: str | None = None,
    ) -> Any:
        """A person asks for a retrain (recorded; ``mlops_retrain`` runs it when triggered with its id)."""

        evidence = {"note": note} if note else {}
        return request_retraining(
            self.id, reason, evidence=evidence, origin="user", actor=actor, store_url=self.store_url
        )

    def get_retraining_requests(self) -> builtins.list[dict[str, Any]]:
        """Every retraining request of this deployment, newest first, with its outcome."""

        return [r.to_dict() for r in list_requests(self.id, store_url=self.store_url)]

    def update_settings(self, patch: dict[str, Any], *, actor: str | None = None) -> dict[str, Any]:
        """Several sections at once (the REST ``PATCH settings/``), all or nothing."""
        unknown = sorted(
            set(patch)
            - {
                "drift_tracking",
                "association_id",
                "predictions_data_collection",
                "prediction_warning",
                "retraining",
                "bias_and_fairness",
            }
        )
        if unknown:
            raise SettingsError(f"unknown settings section(s) {unknown}")

        # The registry is asked before the store's transaction starts, not while holding its lock.
        fairness_model: dict[str, Any] = {}
        if "bias_and_fairness" in patch:
            fairness_model = {
                "features": model_version_info(self.model["id"]).features,
                "classes": self._model_classes(),
            }

        def mutate(row: DeploymentRow) -> None:
            current = with_defaults(row.settings)
            for section, value in patch.items():
                if (
                    section == "association_id"
                    and "column_names" in value
                    and value["column_names"] != current["association_id"]["column_names"]
                    and _has_predictions(self.id, self.store_url)
                ):
                    raise SettingsError(
                        "association_id.column_names cannot change once the deployment has served predictions"
                    )
                extra = fairness_model if section == "bias_and_fairness" else {}
                current[section] = validate_section(
                    section, value, current, target_type=row.target_type, **extra
                )
            row.settings = current

        self._change("settings", actor, mutate)
        return self.settings


def _has_predictions(deployment_id: str, store_url: str) -> bool:
    """Whether the deployment has served predictions (logged, or already folded into buckets)."""

    if list_log_files(get_settings().prediction_log_dir, deployment_id):
        return True
    with session_scope(store_url) as session:
        return (
            session.scalars(
                select(ServiceBucketRow.hour).where(ServiceBucketRow.deployment_id == deployment_id).limit(1)
            ).first()
            is not None
        )
