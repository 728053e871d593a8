"""The per-deployment inbox: one tiny marker per log file written, so a fold never lists old hours.

Without it, finding new files means listing every hour partition ever written
and comparing against every folded mark, a cost that grows with the log's age.
With it, every writer of a log file first drops an empty marker under
``deployment=<id>/_inbox/`` named after the file; a fold lists only that prefix
(one listing, one request per 1000 markers on object storage), folds the files
named there and deletes their markers. The markers are hints, never the truth:
whether a file is folded is decided by its mark in the store, so a marker seen
twice, or left behind by a crash, never counts a file twice.

The marker is written *before* the file. A writer that dies in between leaves a
marker without a file (the fold waits :data:`MISSING_FILE_GRACE` for the file,
then drops the marker); the other order could leave a file no fold would ever
see. Hour partitions are named ``hour=…``, so readers listing hours never see
the inbox.

Marker name: ``<write time>_<hour key>_<file name>.new``: the write time tells
a marker's age without a metadata request; the rest locates the file.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow_mlops.prediction_log.layout import check_deployment_id
from airflow_mlops.storage import StoragePath, as_storage_path, is_local, write_bytes_atomic

INBOX_DIR = "_inbox"
#: How long a marker may wait for its file (being written, or its writer died) before it is dropped.
MISSING_FILE_GRACE = timedelta(minutes=15)
_STAMP = "%Y%m%dT%H%M%S%fZ"
_MARKER_RE = re.compile(r"^(\d{8}T\d{12}Z)_(\d{8}T\d{2})_([^/]+)\.new$")


@dataclass(frozen=True)
class InboxEntry:
    """One marker: which file of which hour it announces, and when it was written."""

    marker: StoragePath
    deployment_id: str
    hour: str
    file_name: str
    written_at: datetime

    @property
    def key(self) -> str:
        """The announced file's path relative to the log root (its key in ``folded_files``)."""
        return f"deployment={self.deployment_id}/hour={self.hour}/{self.file_name}"


def inbox_dir(root: StoragePath | str | os.PathLike[str], deployment_id: str) -> StoragePath:
    check_deployment_id(deployment_id)
    return as_storage_path(root) / f"deployment={deployment_id}" / INBOX_DIR


def announce_log_file(
    root: StoragePath | str | os.PathLike[str],
    deployment_id: str,
    hour: str,
    file_name: str,
    *,
    now: datetime | None = None,
) -> StoragePath:
    """Drop the marker for ``deployment=<id>/hour=<hour>/<file_name>``; call it before writing the file.

    Every code path that writes log files must call this (the writer does), or
    the file is folded only by a full scan (``fold_new_predictions(rescan=True)``).
    """
    if "/" in file_name or not file_name:
        raise ValueError(f"file_name must be a plain file name, got {file_name!r}")
    if not re.fullmatch(r"\d{8}T\d{2}", hour):
        raise ValueError(f"hour must be an hour key like 20260101T10, got {hour!r}")
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_STAMP)
    marker = inbox_dir(root, deployment_id) / f"{stamp}_{hour}_{file_name}.new"
    if is_local(marker):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    else:
        write_bytes_atomic(marker, b"")
    return marker


def list_inbox(root: StoragePath | str | os.PathLike[str], deployment_id: str) -> list[InboxEntry]:
    """The deployment's markers, oldest first: one directory listing, whatever the log's age."""
    base = inbox_dir(root, deployment_id)
    if is_local(base):
        names: list[tuple[str, StoragePath]]
        try:
            names = [(p.name, p) for p in base.iterdir()]
        except FileNotFoundError:
            return []
    else:
        try:
            listed = base.fs.ls(base.path, detail=False)
        except FileNotFoundError:
            return []
        names = []
        for name in listed:
            short = str(name).rstrip("/").rsplit("/", 1)[-1]
            names.append((short, base / short))
    entries = []
    for name, path in names:
        match = _MARKER_RE.match(name)
        if match is None:
            continue  # a temporary name, or something that is not a marker: never ours to delete
        written = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
        entries.append(InboxEntry(path, deployment_id, match.group(2), match.group(3), written))
    return sorted(entries, key=lambda e: (e.written_at, e.key))


def drop_marker(marker: StoragePath) -> None:
    """Delete one marker (already gone is fine)."""
    if is_local(marker):
        marker.unlink(missing_ok=True)
        return
    with contextlib.suppress(FileNotFoundError):
        marker.fs.rm(marker.path)


def remove_markers(entries: list[InboxEntry]) -> None:
    """Delete markers (already gone is fine): one batched request per 1000 on object storage."""
    if not entries:
        return
    first = entries[0].marker
    if is_local(first):
        for entry in entries:
            marker = entry.marker
            assert isinstance(marker, Path)
            marker.unlink(missing_ok=True)
        return
    fs = first.fs
    paths = [entry.marker.path for entry in entries]  # type: ignore[union-attr]
    for start in range(0, len(paths), 1000):
        with contextlib.suppress(FileNotFoundError):
            fs.rm(paths[start : start + 1000])
