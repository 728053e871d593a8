"""Data in: synthetic datasets for demos and tests, and CSV ingestion into versioned snapshots.

Kept free of Airflow imports so tasks, the CLI and tests share one code path.
"""

from __future__ import annotations

from airflow_mlops.datasets.ingest import (
    DataValidationError,
    Snapshot,
    SnapshotNotFoundError,
    ingest_csv,
    list_snapshot_versions,
    load_snapshot,
)
from airflow_mlops.datasets.synthetic import make_churn, write_churn_csvs

__all__ = [
    "DataValidationError",
    "Snapshot",
    "SnapshotNotFoundError",
    "ingest_csv",
    "list_snapshot_versions",
    "load_snapshot",
    "make_churn",
    "write_churn_csvs",
]
