"""The log's layout on disk or object storage and how readers find it (see the package docstring)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
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
    """
    check_deployment_id(deployment_id)
    first = hour_key(start) if start is not None else None
    last = hour_key(end) if end is not None else None

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
        files.extend(
            path
            for path in hour_dir.iterdir()
            if path.name.startswith("part-") and path.name.endswith(".parquet") and path.is_file()
        )
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
            if (
                item.get("type") == "file"
                and file_name.startswith("part-")
                and file_name.endswith(".parquet")
            ):
                files.append(hour_dir / file_name)
    return sorted(files, key=str)


def _basename(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


def hour_key(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).strftime(HOUR_FORMAT)


def deployment_of(path: StoragePath) -> str | None:
    for part in reversed(path.parts):
        if part.startswith("deployment="):
            return part[len("deployment=") :]
    return None
