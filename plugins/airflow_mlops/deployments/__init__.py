"""Deployments: lifecycle, validation and model replacement (DataRobot's shape)."""

from __future__ import annotations

from airflow_mlops.deployments.deployment import (
    ORDER_FIELDS,
    Deployment,
    DeploymentListFilters,
    audit_log,
)
from airflow_mlops.deployments.feature_drift import FeatureDrift
from airflow_mlops.deployments.settings import SettingsError
from airflow_mlops.errors import DeploymentNotFound
from airflow_mlops.registry import ModelRef, ModelVersionInfo, model_version_info

__all__ = [
    "ORDER_FIELDS",
    "Deployment",
    "DeploymentListFilters",
    "DeploymentNotFound",
    "FeatureDrift",
    "ModelRef",
    "ModelVersionInfo",
    "SettingsError",
    "audit_log",
    "model_version_info",
]
