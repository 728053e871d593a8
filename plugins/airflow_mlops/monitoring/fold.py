"""Fold new prediction-log files into per-hour buckets, exactly once each.

Each log file is immutable, so "what is new" is "files not yet in the
``folded_files`` table". A file's counts and its folded mark are written in one
transaction: re-running a monitoring interval, a backfill or a crash half-way
never double-counts. Memory is bounded by one file at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.serving.prediction_log import list_log_files, read_log_files
from airflow_mlops.store import (
    BaselineRow,
    DriftBucketRow,
    FoldedFileRow,
    ServiceBucketRow,
    session_scope,
)

FEATURE_PREFIX = "f."


@dataclass
class FoldSummary:
    files: int = 0
    rows: int = 0
    hours: set[datetime] = field(default_factory=set)
    skipped_without_baseline: int = 0


def _hour(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.floor("h")


def fold_new_predictions(
    deployment_id: str,
    *,
    store_url: str,
    log_root: Path,
    progress: Callable[[str], None] | None = None,
) -> FoldSummary:
    """Fold every not-yet-folded log file of a deployment; returns what was folded."""
    summary = FoldSummary()
    with session_scope(store_url) as session:
        done = set(
            session.scalars(select(FoldedFileRow.path).where(FoldedFileRow.deployment_id == deployment_id))
        )
        baselines = {
            row.model_version: Baseline.from_dict(row.baseline)
            for row in session.scalars(select(BaselineRow).where(BaselineRow.deployment_id == deployment_id))
        }
    pending = [p for p in list_log_files(log_root, deployment_id) if _key(p, log_root) not in done]
    for index, path in enumerate(pending, start=1):
        frame = read_log_files([path])
        _fold_file(deployment_id, path, frame, baselines, store_url, log_root, summary)
        if progress and (index % 50 == 0 or index == len(pending)):
            progress(f"folded {index}/{len(pending)} log files ({summary.rows} rows) for {deployment_id}")
    return summary


def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _fold_file(
    deployment_id: str,
    path: Path,
    frame: pd.DataFrame,
    baselines: dict[str, Baseline],
    store_url: str,
    log_root: Path,
    summary: FoldSummary,
) -> None:
    frame = frame.assign(__hour=_hour(frame["timestamp"]))
    with session_scope(store_url) as session:
        for (version, hour), group in frame.groupby(["model_version", "__hour"], sort=True):
            version, hour_dt = str(version), pd.Timestamp(hour).to_pydatetime().astimezone(UTC)
            summary.hours.add(hour_dt)
            errors = int((group["status_code"] >= 400).sum())
            service = session.get(ServiceBucketRow, (deployment_id, version, hour_dt))
            if service is None:
                service = ServiceBucketRow(
                    deployment_id=deployment_id,
                    model_version=version,
                    hour=hour_dt,
                    predictions=0,
                    errors=0,
                    latency_ms_sum=0.0,
                )
                session.add(service)
            service.predictions += len(group) - errors
            service.errors += errors
            service.latency_ms_sum += float(group["latency_ms"].sum())

            baseline = baselines.get(version)
            if baseline is None:
                summary.skipped_without_baseline += len(group)
                continue
            ok = group[group["status_code"] < 400]
            features = ok[[c for c in ok.columns if c.startswith(FEATURE_PREFIX)]]
            features.columns = [c[len(FEATURE_PREFIX) :] for c in features.columns]
            counts = baseline.count(features, prediction=ok["prediction"].to_numpy())
            for feature, vector in counts.items():
                bucket = session.get(DriftBucketRow, (deployment_id, version, hour_dt, feature))
                if bucket is None:
                    session.add(
                        DriftBucketRow(
                            deployment_id=deployment_id,
                            model_version=version,
                            hour=hour_dt,
                            feature=feature,
                            counts=[int(c) for c in vector],
                        )
                    )
                else:
                    bucket.counts = [int(c) for c in np.asarray(bucket.counts) + vector]
        session.add(
            FoldedFileRow(
                deployment_id=deployment_id,
                path=_key(path, log_root),
                rows=len(frame),
                folded_at=datetime.now(UTC),
            )
        )
    summary.files += 1
    summary.rows += len(frame)
