"""Deployments: lifecycle, validation and model replacement (DataRobot's shape)."""

from __future__ import annotations

from airflow_mlops.deployments.deployment import (
    ORDER_FIELDS,
    Deployment,
    DeploymentListFilters,
    DeploymentNotFound,
    ModelVersionInfo,
    audit_log,
    model_version_info,
)
from airflow_mlops.deployments.model_ref import ModelRef
from airflow_mlops.deployments.settings import SettingsError

__all__ = [
    "ORDER_FIELDS",
    "Deployment",
    "DeploymentListFilters",
    "DeploymentNotFound",
    "ModelRef",
    "ModelVersionInfo",
    "SettingsError",
    "audit_log",
    "model_version_info",
]
