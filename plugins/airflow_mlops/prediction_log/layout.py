"""The log's layout on disk or object storage and how readers find it (see the package docstring)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_mlops.storage import StoragePath, as_storage_path, is_local

if TYPE_CHECKING:
    from upath import UPath

logger = logging.getLogger(__name__)
FEATURE_PREFIX = "f."
CORE_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "association_id",
    "model_version",
    "prediction",
    "status_code",
    "latency_ms",
    "row_id",
)
REQUIRED_KEYS: tuple[str, ...] = (
    "timestamp",
    "model_version",
    "prediction",
    "status_code",
    "latency_ms",
    "features",
)
#: Per row of a regression deployment with prediction warnings on: was the prediction flagged an
#: outlier (bool). Absent from files of requests scored with warnings off: unknown, never False.
WARNING_COLUMN = "prediction_warning"
#: Per row, written by the server for each answered request (service stats read them; absent or
#: null: unknown, which the stats report as null rather than as zero):
#: the request's id (the client's ``X-Request-Id`` or a uuid), shared by all its rows;
REQUEST_ID_COLUMN = "request_id"
#: the authenticated principal's name (never a token);
CALLER_COLUMN = "caller"
#: whether the model was already loaded when the request arrived (bool);
CACHE_HIT_COLUMN = "cache_hit"
#: how long the model call that scored the request took, in ms (less than ``latency_ms``, which
#: also counts parsing, checks, queueing and logging).
EXECUTION_COLUMN = "execution_ms"
RESERVED = frozenset((*CORE_COLUMNS, "features", "deployment_id"))
DEPLOYMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HOUR_RE = re.compile(r"^hour=(\d{8}T\d{2})$")
HOUR_FORMAT = "%Y%m%dT%H"
#: Windows up to this many hours are listed hour by hour (cost independent of the log's age).
DIRECT_WINDOW_HOURS = 24 * 8
#: In the name of a compacted hour's file, and of no file a writer makes.
COMPACTED_TAG = "-compacted-"


def check_deployment_id(deployment_id: str) -> None:
    if not isinstance(deployment_id, str) or not DEPLOYMENT_RE.match(deployment_id):
        raise ValueError(
            "deployment_id must be 1-128 characters of letters, digits, '.', '_' or '-', starting with "
            f"a letter or digit (it becomes a directory name); got {deployment_id!r}"
        )


def list_log_files(
    root: StoragePath | str | os.PathLike[str],
    deployment_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[StoragePath]:
    """Complete log files of one deployment, sorted by hour then write time.

    ``start``/``end`` (tz-aware, inclusive) select hour partitions, so a
    monitoring job reads only the window it reports on. Hidden names (files
    being written) are never returned. ``root`` is a local directory or an
    fsspec URL / UPath (:mod:`airflow_mlops.storage`); on object storage the
    hour "directories" are key prefixes, listed once per selected hour.
    A window of at most :data:`DIRECT_WINDOW_HOURS` hours lists just its hours,
    never the deployment's list of every hour ever written.
    """
    check_deployment_id(deployment_id)
    first = hour_key(start) if start is not None else None
    last = hour_key(end) if end is not None else None
    if start is not None and end is not None:
        low = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        span = (end - low) // timedelta(hours=1) + 1
        if span <= DIRECT_WINDOW_HOURS:
            hours = [low + timedelta(hours=h) for h in range(max(span, 0))]
            return [path for hour in hours for path in list_hour_files(root, deployment_id, hour_key(hour))]

    def wanted(name: str) -> bool:
        match = _HOUR_RE.match(name)
        if match is None:
            return False
        hour = match.group(1)
        return not ((first is not None and hour < first) or (last is not None and hour > last))

    base = as_storage_path(root) / f"deployment={deployment_id}"
    if not is_local(base):
        return _list_remote(base, wanted)
    if not base.is_dir():
        return []
    files: list[Path] = []
    for hour_dir in base.iterdir():
        if not wanted(hour_dir.name) or not hour_dir.is_dir():
            continue
        files.extend(path for path in hour_dir.iterdir() if _is_log_file(path.name) and path.is_file())
    return list(sorted(files))


def _list_remote(base: UPath, wanted: Callable[[str], bool]) -> list[StoragePath]:
    """One listing of the deployment's hour prefixes, then one per wanted hour (no per-file calls)."""
    fs = base.fs
    try:
        hours = fs.ls(base.path, detail=True)
    except FileNotFoundError:
        return []
    files: list[StoragePath] = []
    for entry in hours:
        name = _basename(entry["name"])
        if entry.get("type") != "directory" or not wanted(name):
            continue
        hour_dir = base / name
        try:
            listed = fs.ls(hour_dir.path, detail=True)
        except FileNotFoundError:
            continue
        for item in listed:
            file_name = _basename(item["name"])
            if item.get("type") == "file" and _is_log_file(file_name):
                files.append(hour_dir / file_name)
    return sorted(files, key=str)


def list_hour_files(
    root: StoragePath | str | os.PathLike[str], deployment_id: str, hour: str
) -> list[StoragePath]:
    """Complete log files of one deployment-hour (``hour`` a key like ``20260101T10``), sorted.

    One listing of that partition only (one request on object storage), so work
    on a few hours never pays for the log's age; ``[]`` when the hour has no files.
    """
    check_deployment_id(deployment_id)
    hour_dir = as_storage_path(root) / f"deployment={deployment_id}" / f"hour={hour}"
    if is_local(hour_dir):
        try:
            return sorted(p for p in hour_dir.iterdir() if _is_log_file(p.name) and p.is_file())
        except FileNotFoundError:
            return []
    try:
        listed = hour_dir.fs.ls(hour_dir.path, detail=True)
    except FileNotFoundError:
        return []
    names = [_basename(item["name"]) for item in listed if item.get("type") == "file"]
    return sorted((hour_dir / name for name in names if _is_log_file(name)), key=str)


def delete_log_files(paths: list[StoragePath]) -> None:
    """Delete log files (already gone is fine); one batched request per 1000 on object storage."""
    remote: list[StoragePath] = []
    for path in paths:
        if is_local(path):
            path.unlink(missing_ok=True)
        else:
            remote.append(path)
    if remote:
        fs = remote[0].fs  # type: ignore[union-attr]
        names = [path.path for path in remote]  # type: ignore[union-attr]
        for start in range(0, len(names), 1000):
            try:
                fs.rm(names[start : start + 1000])
            except FileNotFoundError:
                for name in names[start : start + 1000]:
                    if fs.exists(name):
                        fs.rm(name)


def is_compacted_name(name: str) -> bool:
    """Whether a log file name is a compacted hour's (``part-<time>Z-compacted-<uuid>.parquet``).

    Compacted files are never folded: compaction records them as folded in the
    same transaction that retires the parts they replace.
    """
    return COMPACTED_TAG in name.rsplit("/", 1)[-1]


def _is_log_file(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".parquet")


def _basename(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


def hour_key(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).strftime(HOUR_FORMAT)


def hour_of_key(key: str) -> datetime | None:
    """The hour partition of a log file's key (``deployment=…/hour=YYYYMMDDTHH/…``), or None."""
    for part in key.split("/"):
        match = _HOUR_RE.match(part)
        if match is not None:
            return datetime.strptime(match.group(1), HOUR_FORMAT).replace(tzinfo=UTC)
    return None


def deployment_of(path: StoragePath) -> str | None:
    for part in reversed(path.parts):
        if part.startswith("deployment="):
            return part[len("deployment=") :]
    return None
