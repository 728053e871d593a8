"""Which log files a fold reads: from the deployment's inbox, so a pass costs the same on day 90 as on day 1.

A fold must not list every hour ever written nor load every folded mark. It
lists the deployment's inbox (``prediction_log/inbox.py``: one marker per file
written since the last pass), lists only the hours those markers name (to see
which files are complete), and looks up the marks of just those files in the
store (primary-key lookups). Files without a mark are folded; markers of files
already marked are deleted once their marks are committed.

A deployment without a ``fold_state`` row (its first fold, or a log written
before writers dropped markers) gets one full scan instead: every hour is
listed, every unmarked file folded, and ``fold_state`` recorded only after the
whole scan committed, so a failed scan is simply repeated. ``rescan=True``
forces one (after copying log files in by hand, without markers).

Exactly once never depends on the markers: a file is folded iff it has no mark,
and its mark commits with its counts. Compacted files (named with
``-compacted-``) are never folded: compaction writes their marks itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from airflow_mlops.prediction_log import (
    InboxEntry,
    is_compacted_name,
    list_hour_files,
    list_inbox,
    list_log_files,
    remove_markers,
)
from airflow_mlops.prediction_log.inbox import MISSING_FILE_GRACE
from airflow_mlops.storage import StoragePath, relative_key
from airflow_mlops.store import FoldedFileRow, FoldStateRow, session_scope

logger = logging.getLogger(__name__)

#: Paths per ``IN (...)`` look-up of folded marks.
LOOKUP_CHUNK = 500


@dataclass
class FoldPlan:
    """The files to fold, in order, and the markers to delete once their files' marks commit."""

    deployment_id: str
    store_url: str
    log_root: StoragePath
    files: list[StoragePath]
    full_scan: bool
    #: What planning cost, for tests and task logs: hour partitions listed, marks looked up.
    listed_hours: int = 0
    marks_checked: int = 0
    markers: dict[str, list[InboxEntry]] = field(default_factory=dict)

    def key(self, path: StoragePath) -> str:
        return relative_key(path, self.log_root)

    def committed(self, keys: list[str]) -> None:
        """Delete the markers of files whose marks just committed (a failure is retried next pass)."""
        done = [entry for key in keys for entry in self.markers.pop(key, [])]
        _remove(done)

    def finish(self) -> None:
        """After every file folded: a full scan is recorded so it never repeats."""
        if not self.full_scan:
            return
        with session_scope(self.store_url) as session:
            state = session.get(FoldStateRow, self.deployment_id)
            now = datetime.now(UTC)
            if state is None:
                session.add(FoldStateRow(deployment_id=self.deployment_id, full_scan_at=now))
            else:
                state.full_scan_at = now


def plan_fold(
    deployment_id: str,
    *,
    store_url: str,
    log_root: StoragePath,
    rescan: bool = False,
    now: datetime | None = None,
) -> FoldPlan:
    """The deployment's not-yet-folded files, found from its inbox (or by a one-off full scan)."""
    now = now or datetime.now(UTC)
    with session_scope(store_url) as session:
        scanned = session.get(FoldStateRow, deployment_id) is not None
    full_scan = rescan or not scanned
    # The inbox is listed before any hour, so a file written meanwhile keeps its marker.
    entries = list_inbox(log_root, deployment_id)
    plan = FoldPlan(deployment_id, store_url, log_root, files=[], full_scan=full_scan)
    candidates: dict[str, StoragePath] = {}
    stale: list[InboxEntry] = []
    if full_scan:
        for path in list_log_files(log_root, deployment_id):
            if not is_compacted_name(path.name):
                candidates[plan.key(path)] = path
        plan.listed_hours = len({key.rsplit("/", 1)[0] for key in candidates})
    else:
        by_hour: dict[str, list[InboxEntry]] = {}
        for entry in entries:
            by_hour.setdefault(entry.hour, []).append(entry)
        for hour, hour_entries in by_hour.items():
            present = {path.name: path for path in list_hour_files(log_root, deployment_id, hour)}
            plan.listed_hours += 1
            for entry in hour_entries:
                found = present.get(entry.file_name)
                if is_compacted_name(entry.file_name):
                    stale.append(entry)  # compaction marks its own files; never folded
                elif found is not None:
                    candidates[entry.key] = found
                elif now - entry.written_at > MISSING_FILE_GRACE:
                    stale.append(entry)  # its writer died before the file, or the file was deleted
    marked = marked_paths(store_url, deployment_id, list(candidates))
    plan.marks_checked = len(candidates)
    plan.files = [candidates[key] for key in sorted(candidates) if key not in marked]
    for entry in entries:
        if entry.key in marked:
            stale.append(entry)
        elif entry.key in candidates:
            plan.markers.setdefault(entry.key, []).append(entry)
    _remove(stale)
    return plan


def marked_paths(store_url: str, deployment_id: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` have a folded mark: primary-key look-ups of just those paths."""
    found: set[str] = set()
    with session_scope(store_url) as session:
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            found.update(
                session.scalars(
                    select(FoldedFileRow.path).where(
                        FoldedFileRow.deployment_id == deployment_id, FoldedFileRow.path.in_(chunk)
                    )
                )
            )
    return found


def _remove(entries: list[InboxEntry]) -> None:
    try:
        remove_markers(entries)
    except Exception:
        # Markers are hints: one left behind is looked up (and dropped) by the next pass.
        logger.warning(
            "could not delete %d inbox marker(s); the next fold retries", len(entries), exc_info=True
        )
