"""Deployments: lifecycle, validation and model replacement (DataRobot's shape).

``Deployment`` is one class for its users; its code is split by concept:
``deployment`` (create, get, list, update, share), ``settings_shortcuts``
(DataRobot's settings getters and updaters, retraining requests), ``replacement``
(validate and replace), ``monitoring_shortcuts`` (service stats, drift,
accuracy, actuals, health history), ``listing`` (filters and orders),
``audit`` (the audit log), ``feature_drift`` (DataRobot's ``FeatureDrift.list``),
``overview`` (lineage, prediction usage and latest report, for a page of deployments),
``model_card`` (the deployment's model card with its replacement history).
"""

from __future__ import annotations

from airflow_mlops.deployments.audit import audit_log
from airflow_mlops.deployments.deployment import Deployment
from airflow_mlops.deployments.feature_drift import FeatureDrift
from airflow_mlops.deployments.listing import ORDER_FIELDS, DeploymentListFilters
from airflow_mlops.deployments.model_card import protected_features_of
from airflow_mlops.deployments.overview import (
    DeploymentOverview,
    Report,
    deployment_overviews,
    latest_reports,
)
from airflow_mlops.deployments.settings import SettingsError
from airflow_mlops.errors import DeploymentNotFound
from airflow_mlops.registry import ModelRef, ModelVersionInfo, model_version_info

__all__ = [
    "ORDER_FIELDS",
    "Deployment",
    "DeploymentListFilters",
    "DeploymentNotFound",
    "DeploymentOverview",
    "FeatureDrift",
    "ModelRef",
    "ModelVersionInfo",
    "Report",
    "SettingsError",
    "audit_log",
    "deployment_overviews",
    "latest_reports",
    "model_version_info",
    "protected_features_of",
]
