"""Data in: sources, data contracts, checks, versioned snapshots, profiles and lineage.

Kept free of Airflow imports so tasks, the CLI and tests share one code path;
``airflow_mlops.operators.IngestOperator`` wires it into DAGs.
"""

from __future__ import annotations

from airflow_mlops.datasets.contract import (
    CHECKS,
    DATASET_CHECKS,
    POLICIES,
    ROW_CHECKS,
    ColumnContract,
    Contract,
    find_contract,
    load_contract,
)
from airflow_mlops.datasets.errors import (
    ContractError,
    DataValidationError,
    SnapshotNotFoundError,
    SourceError,
)
from airflow_mlops.datasets.ingest import ingest, ingest_csv
from airflow_mlops.datasets.lineage import log_snapshot_input
from airflow_mlops.datasets.roots import ALLOWED_ROOTS_ENV, allowed_roots
from airflow_mlops.datasets.snapshot import Snapshot, list_snapshot_versions, load_snapshot
from airflow_mlops.datasets.sources import FORMATS, Source, open_source, register_format
from airflow_mlops.datasets.sql import SqlSource
from airflow_mlops.datasets.synthetic import make_churn, write_churn_csvs

__all__ = [
    "ALLOWED_ROOTS_ENV",
    "CHECKS",
    "DATASET_CHECKS",
    "FORMATS",
    "POLICIES",
    "ROW_CHECKS",
    "ColumnContract",
    "Contract",
    "ContractError",
    "DataValidationError",
    "Snapshot",
    "SnapshotNotFoundError",
    "Source",
    "SourceError",
    "SqlSource",
    "allowed_roots",
    "find_contract",
    "ingest",
    "ingest_csv",
    "list_snapshot_versions",
    "load_contract",
    "load_snapshot",
    "log_snapshot_input",
    "make_churn",
    "open_source",
    "register_format",
    "write_churn_csvs",
]
