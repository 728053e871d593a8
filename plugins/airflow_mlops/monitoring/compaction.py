"""Compaction: a closed hour's folded part files become one file per deployment-hour.

Servers flush every second or every few thousand rows, so a busy hour holds
hundreds of small files, and every reader of that hour (retraining data, the
Evidently report) pays a request and a footer per file. Once an hour is
*closed* (its wall-clock end plus a grace, :data:`DEFAULT_GRACE`, has passed),
its folded parts are rewritten into one ``part-<time>Z-compacted-<uuid>.parquet``.
Only files with a folded mark (``folded_files``) are ever compacted; a late file
arriving after compaction is folded as usual and compacted, with the hour's
compacted file, by a later pass. An hour of a single file is not rewritten: its
mark just becomes ``compacted``.

Exactly once, at every step a crash may interrupt:

1. write the compacted file (readers may see it and the parts until step 3);
   it has no mark and no inbox marker, so no fold reads it, and a compaction of
   the hour later deletes it as an orphan before starting again;
2. one transaction: the compacted file's mark (``compacted``, the parts' row sum)
   and the parts' marks turned ``superseded`` (kept, so a full rescan never folds
   the parts again);
3. delete the parts; 4. delete their marks. A crash after 2 is finished by the
   next compaction (:func:`_finish_superseded`), before anything else.

Bucket counts are never touched: they were added when the parts were folded.
A compaction assumes it is the deployment's only one at a time (the monitoring
pass of one deployment does not overlap itself).
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import delete, select, update

from airflow_mlops.prediction_log import (
    COMPACTED_TAG,
    delete_log_files,
    hour_key,
    is_compacted_name,
    list_hour_files,
)
from airflow_mlops.storage import StoragePath, as_storage_path, parquet_file, relative_key, upload_file
from airflow_mlops.store import FoldedFileRow, session_scope

logger = logging.getLogger(__name__)

#: An hour is closed this long after its wall-clock end (``MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES``).
DEFAULT_GRACE = timedelta(minutes=60)
#: Rows read from a part at a time while rewriting: bounds compaction's memory.
BATCH_ROWS = 65_536


@dataclass
class CompactionSummary:
    """What one compaction did: hours rewritten, parts they replaced, rows moved."""

    hours: int = 0
    files_in: int = 0
    rows: int = 0
    #: Lone parts marked compacted without a rewrite.
    adopted: int = 0
    #: Hours left as they were (a part missing on storage, columns whose types cannot merge).
    skipped: int = 0
    #: Parts of an interrupted compaction deleted now.
    recovered: int = 0


def compact_prediction_log(
    deployment_id: str,
    *,
    store_url: str,
    log_root: StoragePath | str,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> CompactionSummary:
    """Compact every closed hour of the deployment that has folded parts; returns what it did.

    Queries only marks in stage ``part`` (folded since their hour's last
    compaction) through the ``(deployment_id, stage, hour)`` index, and lists only
    those hours: the cost follows the new hours, not the log's age.
    """
    now = now or datetime.now(UTC)
    root = as_storage_path(log_root)
    summary = CompactionSummary()
    summary.recovered = _finish_superseded(deployment_id, store_url, root)
    latest_closed = now - grace - timedelta(hours=1)
    with session_scope(store_url) as session:
        parts = session.execute(
            select(FoldedFileRow.path, FoldedFileRow.hour, FoldedFileRow.rows).where(
                FoldedFileRow.deployment_id == deployment_id,
                FoldedFileRow.stage == "part",
                FoldedFileRow.hour.is_not(None),
                FoldedFileRow.hour <= latest_closed,
            )
        ).all()
    by_hour: dict[datetime, dict[str, int]] = {}
    for path, hour, rows in parts:
        assert hour is not None  # selected with hour IS NOT NULL
        by_hour.setdefault(hour, {})[path] = rows
    for index, (hour, hour_parts) in enumerate(sorted(by_hour.items()), start=1):
        _compact_hour(deployment_id, store_url, root, hour, hour_parts, now, summary)
        if progress and (index % 24 == 0 or index == len(by_hour)):
            progress(
                f"compacted {index}/{len(by_hour)} closed hours of {deployment_id}: {summary.files_in} "
                f"files into {summary.hours} ({summary.rows} rows), {summary.adopted} single files kept"
            )
    return summary


def _compact_hour(
    deployment_id: str,
    store_url: str,
    root: StoragePath,
    hour: datetime,
    parts: dict[str, int],
    now: datetime,
    summary: CompactionSummary,
) -> None:
    with session_scope(store_url) as session:
        marks = dict(
            session.execute(
                select(FoldedFileRow.path, FoldedFileRow.rows).where(
                    FoldedFileRow.deployment_id == deployment_id, FoldedFileRow.hour == hour
                )
            ).all()
        )
        previous = set(
            session.scalars(
                select(FoldedFileRow.path).where(
                    FoldedFileRow.deployment_id == deployment_id,
                    FoldedFileRow.hour == hour,
                    FoldedFileRow.stage == "compacted",
                )
            )
        )
    inputs = {**{path: marks[path] for path in previous}, **parts}
    if len(inputs) == 1:
        with session_scope(store_url) as session:
            session.execute(
                update(FoldedFileRow)
                .where(FoldedFileRow.deployment_id == deployment_id, FoldedFileRow.path.in_(list(parts)))
                .values(stage="compacted")
            )
        summary.adopted += 1
        return
    listed = {relative_key(path, root): path for path in list_hour_files(root, deployment_id, hour_key(hour))}
    orphans = [path for key, path in listed.items() if is_compacted_name(key) and key not in marks]
    if orphans:  # written by a compaction that died before its transaction: never counted anywhere
        delete_log_files(orphans)
    missing = sorted(key for key in inputs if key not in listed)
    if missing:
        logger.warning(
            "not compacting %s hour %s: folded files missing on storage: %s", deployment_id, hour, missing
        )
        summary.skipped += 1
        return
    sources = [listed[key] for key in sorted(inputs)]
    expected = sum(inputs.values())
    hour_dir = sources[0].parent
    name = f"part-{now:%Y%m%dT%H%M%S%f}Z{COMPACTED_TAG}{uuid.uuid4().hex}.parquet"
    target = hour_dir / name
    try:
        written = _rewrite(sources, target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        logger.warning(
            "not compacting %s hour %s: its files' columns do not merge (%s)", deployment_id, hour, exc
        )
        summary.skipped += 1
        return
    target_key = relative_key(target, root)
    if written != expected:
        delete_log_files([target])
        raise RuntimeError(
            f"compacting {deployment_id} hour {hour:%Y-%m-%dT%H}: wrote {written} rows but the folded marks "
            f"count {expected}; nothing was changed"
        )
    with session_scope(store_url) as session:
        session.add(
            FoldedFileRow(
                deployment_id=deployment_id,
                path=target_key,
                rows=written,
                folded_at=datetime.now(UTC),
                hour=hour,
                stage="compacted",
            )
        )
        session.execute(
            update(FoldedFileRow)
            .where(FoldedFileRow.deployment_id == deployment_id, FoldedFileRow.path.in_(list(inputs)))
            .values(stage="superseded", compacted_into=target_key)
        )
    delete_log_files(sources)
    with session_scope(store_url) as session:
        session.execute(
            delete(FoldedFileRow).where(
                FoldedFileRow.deployment_id == deployment_id,
                FoldedFileRow.stage == "superseded",
                FoldedFileRow.compacted_into == target_key,
            )
        )
    summary.hours += 1
    summary.files_in += len(sources)
    summary.rows += written


def _rewrite(sources: list[StoragePath], target: StoragePath) -> int:
    """Stream the sources' rows into ``target`` under one merged schema; returns the rows written.

    Columns a file lacks become nulls; a column typed differently across files
    takes the wider type (int and float: float), as ``read_log_files`` would
    give. Written to a hidden local file first, then renamed or uploaded in one
    PUT, so readers see the whole file or none.
    """
    schemas = [parquet_file(path).schema_arrow for path in sources]
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    local_dir = target.parent if isinstance(target, Path) else Path(tempfile.gettempdir())
    local_dir.mkdir(parents=True, exist_ok=True)
    tmp = local_dir / f".{target.name}.{uuid.uuid4().hex}.tmp"
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for path in sources:
                for batch in parquet_file(path).iter_batches(batch_size=BATCH_ROWS):
                    columns = [
                        batch.column(field.name).cast(field.type)
                        if field.name in batch.schema.names
                        else pa.nulls(batch.num_rows, field.type)
                        for field in schema
                    ]
                    writer.write_batch(pa.record_batch(columns, schema=schema))
                    rows += batch.num_rows
        if isinstance(target, Path):
            os.replace(tmp, target)
        else:
            upload_file(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def _finish_superseded(deployment_id: str, store_url: str, root: StoragePath) -> int:
    """Finish compactions a crash interrupted after their transaction: delete the parts, then their marks."""
    with session_scope(store_url) as session:
        stale = list(
            session.scalars(
                select(FoldedFileRow.path).where(
                    FoldedFileRow.deployment_id == deployment_id, FoldedFileRow.stage == "superseded"
                )
            )
        )
    if not stale:
        return 0
    delete_log_files([root / key for key in stale])
    with session_scope(store_url) as session:
        session.execute(
            delete(FoldedFileRow).where(
                FoldedFileRow.deployment_id == deployment_id,
                FoldedFileRow.stage == "superseded",
                FoldedFileRow.path.in_(stale),
            )
        )
    return len(stale)
