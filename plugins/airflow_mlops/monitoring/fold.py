"""Fold new prediction-log files into per-hour buckets, exactly once each; join actuals.

Each log file is immutable, so "what is new" is "files not yet in the
``folded_files`` table", looked up only for the files the deployment's inbox
announces (``fold_plan.py``), never for the whole log. A file's counts and its folded mark are written in one
transaction (with those of the other files of its commit group): re-running a
monitoring interval, a backfill or a crash half-way never double-counts, and a
late file (an hour long past) is simply folded into its own hour when it
appears. Memory is bounded by one record batch (:data:`BATCH_ROWS` rows) plus
the per-hour state and a commit group's association ids
(:data:`COMMIT_ASSOCIATIONS`), never by a file or an hour: a file is read batch
by batch and each batch's counts are added to vectors. Features are binned
from the Arrow batch itself (:meth:`.Baseline.count_arrow`); only the log's own
columns become a pandas frame.

Rows with an ``association_id`` are also indexed (``prediction_associations``)
so that actuals can be joined to them whenever either side arrives first;
:func:`~airflow_mlops.monitoring.join.join_actuals` (re-exported here) moves every
joinable actual into its prediction's hour. With protected features set, rows
also count in their groups' fairness buckets (:mod:`.fairness_buckets`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.drift_buckets import add_drift
from airflow_mlops.monitoring.fairness_buckets import (
    FairnessDeltas,
    add_fairness,
    count_groups,
    group_labels,
)
from airflow_mlops.monitoring.fold_plan import plan_fold
from airflow_mlops.monitoring.join import MAX_PAIRS_PER_HOUR, JoinSummary, join_actuals
from airflow_mlops.monitoring.service import HourState, last_key, request_starts
from airflow_mlops.prediction_log import hour_of_key
from airflow_mlops.storage import StoragePath, as_storage_path, parquet_file, relative_key
from airflow_mlops.store import (
    AssociationRow,
    BaselineRow,
    DeploymentRow,
    FoldedFileRow,
    ServiceBucketRow,
    session_scope,
)

FEATURE_PREFIX = "f."
#: Rows read from a log file at a time: what bounds the fold's memory.
BATCH_ROWS = 65_536
#: A fold commits after this many files or rows (or pending association ids), whichever first.
COMMIT_FILES = 256
COMMIT_ROWS = 1_000_000
COMMIT_ASSOCIATIONS = 200_000


@dataclass
class FoldSummary:
    files: int = 0
    rows: int = 0
    hours: set[datetime] = field(default_factory=set)
    skipped_without_baseline: int = 0
    #: How the files were found (``fold_plan.py``): a one-off full scan, or the inbox; hour
    #: partitions listed and folded marks looked up, which must not grow with the log's age.
    full_scan: bool = False
    listed_hours: int = 0
    marks_checked: int = 0


def fold_new_predictions(
    deployment_id: str,
    *,
    store_url: str,
    log_root: StoragePath | str,
    progress: Callable[[str], None] | None = None,
    rescan: bool = False,
) -> FoldSummary:
    """Fold every not-yet-folded log file of a deployment; returns what was folded.

    The files come from the deployment's inbox (:func:`.plan_fold`), so a pass
    lists only the hours written since the last one and looks up only those
    files' marks; the first fold of a deployment (or ``rescan=True``) scans the
    whole log once. Files are read one batch at a time and committed in groups
    (:data:`COMMIT_FILES` files or :data:`COMMIT_ROWS` rows, whichever comes
    first): the group's bucket counts and every one of its files' folded marks go
    in one transaction, so a crash loses the whole group or nothing, and a
    commit's fixed cost is paid per group instead of per file.
    """
    summary = FoldSummary()
    log_root = as_storage_path(log_root)
    with session_scope(store_url) as session:
        baselines = {
            row.model_version: Baseline.from_dict(row.baseline)
            for row in session.scalars(select(BaselineRow).where(BaselineRow.deployment_id == deployment_id))
        }
        protected = _protected_features(session.get(DeploymentRow, deployment_id))
    plan = plan_fold(deployment_id, store_url=store_url, log_root=log_root, rescan=rescan)
    summary.full_scan, summary.listed_hours, summary.marks_checked = (
        plan.full_scan,
        plan.listed_hours,
        plan.marks_checked,
    )
    pending = plan.files

    def commit(group: _Group) -> None:
        _commit(deployment_id, group, store_url, summary)
        plan.committed([key for key, _rows in group.files])

    group = _Group()
    batches = _Prefetch(pending)
    try:
        for index, path in enumerate(pending, start=1):
            try:
                read = _read_file(batches.of_next_file(), _key(path, log_root), baselines, summary, protected)
            except Exception:
                # Keep the good files before a bad one: they commit, the bad one stops the fold.
                commit(group)
                raise
            group.absorb(read)
            full = (
                len(group.files) >= COMMIT_FILES
                or group.rows >= COMMIT_ROWS
                or len(group.associations) >= COMMIT_ASSOCIATIONS
            )
            if full or index == len(pending):
                commit(group)
                group = _Group()
            if progress and (index % 50 == 0 or index == len(pending)):
                progress(f"folded {index}/{len(pending)} log files ({summary.rows} rows) for {deployment_id}")
    finally:
        batches.close()
    plan.finish()
    return summary


_END = object()


class _Prefetch:
    """Read the pending files' record batches in a background thread, a couple of batches ahead.

    Decoding Parquet releases the GIL, so the next batch is read while this one
    is binned; the queue's size keeps memory bounded by a few batches. A read
    error is raised in the folding thread, at the file it belongs to.
    """

    def __init__(self, paths: list[StoragePath], depth: int = 2) -> None:
        import queue
        import threading

        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(paths,), name="mlops-fold-reader", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, paths: list[StoragePath]) -> None:
        for path in paths:
            try:
                # Text features come dictionary-encoded (as Parquet stores them): counting
                # then looks up each distinct value once, not every row's string.
                opened = parquet_file(path, text_as_dictionary=_is_feature)
                for batch in opened.iter_batches(batch_size=BATCH_ROWS):
                    if not self._put(batch):
                        return
            except Exception as exc:
                self._put(exc)
                return
            if not self._put(_END):
                return

    def of_next_file(self) -> Iterator[pa.RecordBatch]:
        """The next file's batches, in order; raises what reading it raised."""
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class _Group:
    """What a group of files adds to the store, held until it is committed at once."""

    service: dict[tuple[str, datetime], HourState] = field(default_factory=dict)
    drift: dict[tuple[str, datetime], dict[str, np.ndarray]] = field(default_factory=dict)
    associations: dict[str, dict[str, Any]] = field(default_factory=dict)
    fairness: FairnessDeltas = field(default_factory=dict)
    files: list[tuple[str, int]] = field(default_factory=list)
    rows: int = 0

    def absorb(self, other: _Group) -> None:
        """Add a later file's state (an association id keeps its first prediction)."""
        for key, state in other.service.items():
            if key in self.service:
                self.service[key].absorb(state)
            else:
                self.service[key] = state
        for key, vectors in other.drift.items():
            target = self.drift.setdefault(key, {})
            for feature, vector in vectors.items():
                target[feature] = target[feature] + vector if feature in target else vector
        for aid, value in other.associations.items():
            self.associations.setdefault(aid, value)
        for fkey, counts in other.fairness.items():
            if fkey in self.fairness:
                self.fairness[fkey].add(counts)
            else:
                self.fairness[fkey] = counts
        self.files.extend(other.files)
        self.rows += other.rows


def _is_feature(column: str) -> bool:
    return column.startswith(FEATURE_PREFIX)


def _key(path: StoragePath, root: StoragePath) -> str:
    """The file's key in ``folded_files``: relative to the root, so the same for a local or remote root."""
    return relative_key(path, root)


def _prediction_text(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def _protected_features(deployment: DeploymentRow | None) -> list[str]:
    """The protected features fairness counts (binary deployments only), as the settings say now."""
    if deployment is None or deployment.target_type != "Binary":
        return []
    section = (deployment.settings or {}).get("bias_and_fairness") or {}
    return [str(name) for name in section.get("protected_features") or []]


def _read_file(
    batches: Iterator[pa.RecordBatch],
    key_of_file: str,
    baselines: dict[str, Baseline],
    summary: FoldSummary,
    protected: list[str] | None = None,
) -> _Group:
    """One file's state from its batches; nothing of it is kept if reading fails half-way.

    With ``protected`` features, each kept row also counts in its groups' fairness
    buckets, and an indexed association id remembers its groups for the actual.
    """
    group = _Group()
    service, drift, associations = group.service, group.drift, group.associations
    rows = 0
    previous: tuple[Any, ...] | None = None
    for batch in batches:
        # Only the log's own columns go to pandas, and only those the fold reads; features
        # are binned straight from Arrow.
        own = [c for c in batch.schema.names if not c.startswith(FEATURE_PREFIX) and c not in _UNREAD]
        frame = batch.select(own).to_pandas()
        rows += len(frame)
        starts = request_starts(frame, previous)
        previous = last_key(frame)
        for (version, hour), group_rows, positions in _groups(frame, batch):
            key = (str(version), hour)
            summary.hours.add(hour)
            service.setdefault(key, HourState()).add_rows(group_rows, starts[positions])
            keep = group_rows["status_code"].to_numpy(dtype="int64") < 400
            if "data_collected" in group_rows.columns:
                # Data collection off: such rows count for service stats only; they carry
                # no features or prediction, so drift and accuracy must not see them.
                keep &= group_rows["data_collected"].fillna(True).astype(bool).to_numpy()
            ok = group_rows if keep.all() else group_rows[keep]
            kept = positions[keep]
            labels: dict[str, list[str]] = {}
            if protected and len(kept):
                part = batch if len(kept) == batch.num_rows else batch.take(pa.array(kept))
                labels = {name: group_labels(part, name, FEATURE_PREFIX) for name in protected}
                scores = pd.to_numeric(ok["prediction"], errors="coerce").to_numpy(dtype="float64")
                count_groups(labels, scores, key[0], key[1], group.fairness)
            if "association_id" in ok.columns:
                linked = np.flatnonzero(ok["association_id"].notna().to_numpy())
                aids = ok["association_id"].to_numpy()[linked]
                preds = ok["prediction"].to_numpy()[linked]
                for i, aid, pred in zip(linked, aids, preds, strict=True):
                    value = {"model_version": key[0], "hour": key[1], "prediction": _prediction_text(pred)}
                    if labels:
                        value["groups"] = {name: rows[i] for name, rows in labels.items()}
                    associations.setdefault(str(aid)[:128], value)
            baseline = baselines.get(key[0])
            if baseline is None:
                summary.skipped_without_baseline += len(group_rows)
                continue
            part = batch if len(kept) == batch.num_rows else batch.take(pa.array(kept))
            counts = baseline.count_arrow(part, prefix=FEATURE_PREFIX, prediction=part.column("prediction"))
            target = drift.setdefault(key, {})
            for feature, vector in counts.items():
                target[feature] = target[feature] + vector if feature in target else vector
    group.files.append((key_of_file, rows))
    group.rows += rows
    return group


def _commit(deployment_id: str, group: _Group, store_url: str, summary: FoldSummary) -> None:
    if not group.files:
        return
    with session_scope(store_url, write=True) as session:
        for (version, hour), state in group.service.items():
            row = session.get(ServiceBucketRow, (deployment_id, version, hour))
            if row is None:
                row = ServiceBucketRow(deployment_id=deployment_id, model_version=version, hour=hour)
                for name in ("predictions", "errors", "requests", "user_errors", "server_errors"):
                    setattr(row, name, 0)
                for name in (
                    "slow_requests",
                    "cache_hits",
                    "cache_lookups",
                    "warned_rows",
                    "outlier_predictions",
                ):
                    setattr(row, name, 0)
                row.latency_ms_sum = 0.0
                session.add(row)
            state.merge_into(row)
        _write_drift(session, deployment_id, group.drift)
        add_fairness(session, deployment_id, group.fairness)
        _index_associations(session, deployment_id, group.associations)
        now = datetime.now(UTC)
        session.add_all(
            FoldedFileRow(
                deployment_id=deployment_id,
                path=path,
                rows=rows,
                folded_at=now,
                hour=hour_of_key(path),
                stage="part",
            )
            for path, rows in group.files
        )
    summary.files += len(group.files)
    summary.rows += group.rows


#: Log columns the fold never reads, so never converted to pandas (row ids: a string per row).
__all__ = ["MAX_PAIRS_PER_HOUR", "FoldSummary", "JoinSummary", "fold_new_predictions", "join_actuals"]

_UNREAD = frozenset({"row_id"})
_MICROS_PER_HOUR = 3_600_000_000
_UNITS_PER_HOUR = {"s": 3_600, "ms": 3_600_000, "us": _MICROS_PER_HOUR, "ns": 3_600_000_000_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _groups(
    frame: pd.DataFrame, batch: pa.RecordBatch
) -> list[tuple[tuple[Any, datetime], pd.DataFrame, NDArray[np.intp]]]:
    """The batch's (model version, UTC hour) groups: each key, its rows and their positions.

    A log file is one hour, usually of one version: then the whole frame is the one
    group, found from the Arrow timestamps without a pandas datetime conversion.
    """
    if not len(frame):
        return []
    versions = frame["model_version"]
    hours = _hour_micros(batch.column("timestamp"))
    if hours is not None and hours.min() == hours.max() and (versions.iloc[0] == versions).all():
        return [((versions.iloc[0], _utc_hour(int(hours[0]))), frame, np.arange(len(frame)))]
    stamps = frame["timestamp"]
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = pd.to_datetime(stamps, utc=True)
    keyed = pd.DataFrame({"version": versions.to_numpy(), "hour": stamps.dt.tz_convert("UTC").dt.floor("h")})
    # Rows without a timestamp (NaT) belong to no hour and are left out, as groupby drops them.
    groups = keyed.groupby(["version", "hour"], sort=True).indices
    out = []
    for version, hour in sorted(groups):
        positions = np.asarray(groups[(version, hour)], dtype=np.intp)
        key = (version, pd.Timestamp(hour).to_pydatetime().astimezone(UTC))
        out.append((key, frame.iloc[positions], positions))
    return out


def _hour_micros(stamps: pa.ChunkedArray | pa.Array) -> NDArray[np.int64] | None:
    """Each row's UTC hour as microseconds since the epoch, from an Arrow timestamp column.

    None for other types (a string column, say): the caller then goes through pandas.
    Naive timestamps are UTC, as ``pd.to_datetime(utc=True)`` reads them.
    """
    if not pa.types.is_timestamp(stamps.type) or stamps.null_count:
        return None
    per_hour = _UNITS_PER_HOUR[stamps.type.unit]
    since_epoch = np.asarray(pc.cast(stamps, pa.int64()).to_numpy(), dtype=np.int64)
    return since_epoch // per_hour * _MICROS_PER_HOUR


def _utc_hour(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _write_drift(
    session: Session, deployment_id: str, drift: dict[tuple[str, datetime], dict[str, np.ndarray]]
) -> None:
    """Add a group's drift vectors to their hour and day buckets (:func:`.drift_buckets.add_drift`).

    One read of the touched buckets, then bulk inserts and updates: a per-bucket
    ``session.get`` cost a query and an autoflush each and dominated the fold.
    """
    add_drift(session, deployment_id, drift)


def _index_associations(
    session: Session, deployment_id: str, associations: dict[str, dict[str, Any]]
) -> None:
    """Insert new association ids; an id seen before keeps its first prediction (documented)."""
    ids = list(associations)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        existing = set(
            session.scalars(
                select(AssociationRow.association_id).where(
                    AssociationRow.deployment_id == deployment_id, AssociationRow.association_id.in_(chunk)
                )
            )
        )
        session.add_all(
            AssociationRow(
                deployment_id=deployment_id, association_id=aid, matched=False, **associations[aid]
            )
            for aid in chunk
            if aid not in existing
        )
