"""The log's layout on disk and how readers find and read it (see the package docstring)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

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
    root: Path,
    deployment_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Path]:
    """Complete log files of one deployment, sorted by hour then write time.

    ``start``/``end`` (tz-aware, inclusive) select hour partitions, so a
    monitoring job reads only the window it reports on. Hidden names (files
    being written) are never returned.
    """
    check_deployment_id(deployment_id)
    first = hour_key(start) if start is not None else None
    last = hour_key(end) if end is not None else None
    base = Path(root) / f"deployment={deployment_id}"
    if not base.is_dir():
        return []
    files: list[Path] = []
    for hour_dir in base.iterdir():
        match = _HOUR_RE.match(hour_dir.name)
        if match is None or not hour_dir.is_dir():
            continue
        hour = match.group(1)
        if (first is not None and hour < first) or (last is not None and hour > last):
            continue
        files.extend(
            path
            for path in hour_dir.iterdir()
            if path.name.startswith("part-") and path.name.endswith(".parquet") and path.is_file()
        )
    return sorted(files)


def hour_key(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).strftime(HOUR_FORMAT)


def deployment_of(path: Path) -> str | None:
    for part in reversed(path.parts):
        if part.startswith("deployment="):
            return part[len("deployment=") :]
    return None
