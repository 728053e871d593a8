"""Deployments: lifecycle, validation and model replacement (DataRobot's shape)."""

from __future__ import annotations

from airflow_mlops.deployments.deployment import (
    Deployment,
    DeploymentNotFound,
    ModelVersionInfo,
    model_version_info,
)
from airflow_mlops.deployments.model_ref import ModelRef

__all__ = ["Deployment", "DeploymentNotFound", "ModelRef", "ModelVersionInfo", "model_version_info"]
