"""Retention of raw prediction rows: delete hour partitions older than a number of days.

Off by default (``MLOPS_PREDICTION_LOG_RETENTION_DAYS`` unset: the log is kept
forever). Monitoring never needs old raw rows: drift, service and accuracy
buckets, baselines and health history are in the store and stay; only what
reads raw rows (a retrain's logged predictions with actuals, the Evidently
report) loses hours past the retention.

Only folded files are deleted (those with a mark in ``folded_files``), so a
file written into an old hour after the last fold (a backfill) is folded first
and deleted by a later pass: nothing is ever deleted uncounted. The hours come
from the marks through the ``(deployment_id, hour)`` index, not from listing the
log, and each expired hour is listed once: files are deleted before their
marks, so a crash in between is simply done again next time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from airflow_mlops.prediction_log import delete_log_files, hour_key, is_compacted_name, list_hour_files
from airflow_mlops.storage import StoragePath, as_storage_path, is_local, relative_key
from airflow_mlops.store import FoldedFileRow, session_scope

logger = logging.getLogger(__name__)


@dataclass
class RetentionSummary:
    """Hour partitions emptied, files deleted and the rows they held."""

    hours: int = 0
    files: int = 0
    rows: int = 0


def apply_log_retention(
    deployment_id: str,
    *,
    store_url: str,
    log_root: StoragePath | str,
    retention_days: int | None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> RetentionSummary:
    """Delete the deployment's folded log files of hours that ended more than ``retention_days`` ago.

    ``None`` keeps everything. An hour is expired when it starts before
    ``now - retention_days`` rounded down to the hour.
    """
    summary = RetentionSummary()
    if retention_days is None:
        return summary
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 1:
        raise ValueError(
            f"retention_days must be an integer >= 1 or None (keep forever), got {retention_days!r}"
        )
    now = now or datetime.now(UTC)
    cutoff = (now - timedelta(days=retention_days)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    root = as_storage_path(log_root)
    with session_scope(store_url) as session:
        hours = sorted(
            hour
            for hour in session.scalars(
                select(FoldedFileRow.hour)
                .where(FoldedFileRow.deployment_id == deployment_id, FoldedFileRow.hour < cutoff)
                .distinct()
            )
            if hour is not None
        )
    for index, hour in enumerate(hours, start=1):
        _expire_hour(deployment_id, store_url, root, hour, summary)
        if progress and (index % 24 == 0 or index == len(hours)):
            progress(
                f"retention ({retention_days} days) for {deployment_id}: deleted {index}/{len(hours)} hours "
                f"before {cutoff:%Y-%m-%d %H:00} UTC ({summary.files} files, {summary.rows} rows)"
            )
    return summary


def _expire_hour(
    deployment_id: str, store_url: str, root: StoragePath, hour: datetime, summary: RetentionSummary
) -> None:
    with session_scope(store_url) as session:
        marks = dict(
            session.execute(
                select(FoldedFileRow.path, FoldedFileRow.rows).where(
                    FoldedFileRow.deployment_id == deployment_id, FoldedFileRow.hour == hour
                )
            ).all()
        )
    listed = list_hour_files(root, deployment_id, hour_key(hour))
    doomed = []
    for path in listed:
        key = relative_key(path, root)
        if key in marks:
            doomed.append(path)
            summary.rows += marks[key]
        elif is_compacted_name(path.name):
            doomed.append(path)  # an interrupted compaction's orphan: its rows are in the parts
    delete_log_files(doomed)
    with session_scope(store_url) as session:
        session.execute(
            delete(FoldedFileRow).where(
                FoldedFileRow.deployment_id == deployment_id, FoldedFileRow.path.in_(list(marks))
            )
        )
    if is_local(root) and len(doomed) == len(listed):
        hour_dir = root / f"deployment={deployment_id}" / f"hour={hour_key(hour)}"
        with contextlib.suppress(OSError):  # not empty (a file being written) or already gone
            hour_dir.rmdir()
    summary.hours += 1
    summary.files += len(doomed)
