"""The MLOps store: deployments, model history, baselines, monitoring buckets, health."""

from __future__ import annotations

from airflow_mlops.store.auth_epoch import bump_auth_epoch, read_auth_epoch
from airflow_mlops.store.engine import dispose_engines, get_engine, is_migrated, migrate, session_scope
from airflow_mlops.store.tables import (
    AccuracyBucketRow,
    ActualRow,
    AssociationRow,
    AuthEpochRow,
    BaselineRow,
    DeploymentRow,
    DriftDayRow,
    DriftHourRow,
    FairnessHourRow,
    FoldedFileRow,
    FoldStateRow,
    HealthRow,
    ModelHistoryRow,
    ProjectRow,
    RetrainingRequestRow,
    ServiceBucketRow,
)

__all__ = [
    "AccuracyBucketRow",
    "ActualRow",
    "AssociationRow",
    "AuthEpochRow",
    "BaselineRow",
    "DeploymentRow",
    "DriftDayRow",
    "DriftHourRow",
    "FairnessHourRow",
    "FoldStateRow",
    "FoldedFileRow",
    "HealthRow",
    "ModelHistoryRow",
    "ProjectRow",
    "RetrainingRequestRow",
    "ServiceBucketRow",
    "bump_auth_epoch",
    "dispose_engines",
    "get_engine",
    "is_migrated",
    "migrate",
    "read_auth_epoch",
    "session_scope",
]
