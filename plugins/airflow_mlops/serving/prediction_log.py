"""The prediction log: every scored row, kept as append-only Parquet files.

Monitoring (drift, accuracy once actuals arrive, service health) and retraining
all read what the serving layer wrote, so the log is the contract between them.
Its design follows from who uses it:

* **The request path must stay fast.** :meth:`PredictionLogWriter.append` only
  validates and buffers; files are written when the buffer reaches ``max_rows``,
  when its oldest row has waited ``max_delay_s`` (a daemon thread watches), on
  :meth:`~PredictionLogWriter.flush` and on :meth:`~PredictionLogWriter.close`.
* **Readers run concurrently with writers** (an Airflow monitoring task while
  the server scores). Files are never modified: each flush writes new files to
  a hidden temporary name (``.part-...tmp``) in the target directory and renames
  them, so a reader sees a whole file or none. Readers skip names starting with
  ``.``.
* **Monitoring asks "deployment X, hours A..B"**, so files are partitioned
  Hive-style by deployment and by the *UTC hour of each row's timestamp*::

      <root>/deployment=<id>/hour=YYYYMMDDTHH/part-<flush time>-<uuid>.parquet

  ``<flush time>`` is ``YYYYMMDDTHHMMSSffffffZ`` so names sort by write time.
* **Rows must not vanish.** If writing fails (full disk, permissions), the rows
  stay buffered, in order, ahead of newer ones, the error is logged, and the
  next flush retries. Only groups that failed are retried, so nothing is written
  twice.

Columns of each file: ``timestamp`` (UTC, microseconds), ``association_id``,
``model_version``, ``prediction``, ``status_code``, ``latency_ms``, ``row_id``,
any extra scalar keys the caller passed, and one ``f.<name>`` column per
feature (the prefix keeps a feature called ``prediction`` from colliding with
the log's own columns). Column types are inferred per file: all-bool stays
bool, all-int int64, ints and floats float64, all-str string; anything else
(mixed kinds, dicts, lists) is stored as strings made by one function,
:func:`stringify`, so equal values always give equal strings.
:func:`read_log_files` applies the same rule when files disagree on a column's
type. The deployment id is not stored in the files (it is in the path);
:func:`read_log_files` adds it back as a ``deployment_id`` column.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import numbers
import os
import re
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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
_RESERVED = frozenset((*CORE_COLUMNS, "features", "deployment_id"))
_DEPLOYMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HOUR_RE = re.compile(r"^hour=(\d{8}T\d{2})$")
_HOUR_FORMAT = "%Y%m%dT%H"
_MIN_RETRY_S = 0.5


@dataclass(frozen=True)
class _Pending:
    arrived: float  # time.monotonic() at append, drives the max_delay_s flush
    deployment_id: str
    hour: str
    record: dict[str, Any]


class PredictionLogWriter:
    """Buffers prediction rows and writes them as immutable Parquet files.

    Thread-safe; one writer per process is enough for any number of
    deployments. Always :meth:`close` it (or use ``with``): buffered rows are
    written then, and an interpreter exit also closes writers left open.
    """

    def __init__(self, root: Path, *, max_rows: int = 5000, max_delay_s: float = 1.0) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        if not max_delay_s > 0:
            raise ValueError(f"max_delay_s must be > 0, got {max_delay_s}")
        self._root = Path(root)
        self._max_rows = max_rows
        self._max_delay_s = float(max_delay_s)
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        # Serialises flushes so rows put back after a failure cannot be overtaken
        # by a concurrent flush, and so two size-triggered flushes do not both
        # write half-empty files.
        self._flush_lock = threading.Lock()
        self._buffer: list[_Pending] = []
        self._closed = False
        self._retry_at = 0.0
        self._thread = threading.Thread(target=self._run, name="prediction-log-flusher", daemon=True)
        self._thread.start()
        _OPEN_WRITERS.add(self)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def pending(self) -> int:
        """Rows accepted but not yet on disk (including rows kept after a failed flush)."""
        with self._lock:
            return len(self._buffer)

    def append(self, deployment_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Accept rows for one deployment; raises ``ValueError`` for malformed rows.

        All rows are validated before any is buffered, so a bad row never
        poisons the buffer (it would make every later flush fail). A flush this
        call triggers is logged, not raised, on failure: the rows were accepted
        and stay buffered, and an exception here would invite a duplicate retry.
        """
        _check_deployment_id(deployment_id)
        # One random id per call, suffixed per row: unique like a uuid per row, without a
        # urandom call for each (that was a tenth of a 100-row request's cost).
        base = uuid.uuid4().hex
        normalized = [_normalize_row(row, index, base) for index, row in enumerate(rows)]
        if not normalized:
            return
        now = time.monotonic()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"prediction log writer for {self._root} is closed")
            self._buffer.extend(_Pending(now, deployment_id, hour, record) for hour, record in normalized)
            full = len(self._buffer) >= self._max_rows and now >= self._retry_at
            self._wakeup.notify()
        if full:
            # Already logged by _flush; the rows are still buffered.
            with contextlib.suppress(Exception):
                self._flush(only_if_full=True)

    def flush(self) -> int:
        """Write everything buffered now; returns the number of rows written.

        On failure, rows that could not be written stay buffered and the first
        error is re-raised after being logged.
        """
        return self._flush()

    def close(self) -> None:
        """Stop the background thread and write what is left; safe to call again.

        If the final write fails the error is raised and the rows stay
        buffered, so calling ``close()`` again retries them.
        """
        with self._lock:
            self._closed = True
            self._wakeup.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self._flush()
        _OPEN_WRITERS.discard(self)

    def __enter__(self) -> PredictionLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    if self._closed:
                        return  # close() does the final flush itself
                    if self._buffer:
                        due = max(self._buffer[0].arrived + self._max_delay_s, self._retry_at)
                        delay = due - time.monotonic()
                        if delay <= 0:
                            break
                        self._wakeup.wait(delay)
                    else:
                        self._wakeup.wait()
            # Logged by _flush; the rows are kept and retried after the back-off.
            with contextlib.suppress(Exception):
                self._flush()

    def _flush(self, *, only_if_full: bool = False) -> int:
        with self._flush_lock:
            with self._lock:
                if only_if_full and len(self._buffer) < self._max_rows:
                    return 0  # another thread flushed while this one waited
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0

            groups: dict[tuple[str, str], list[_Pending]] = {}
            for item in batch:
                groups.setdefault((item.deployment_id, item.hour), []).append(item)
            failed_keys: set[tuple[str, str]] = set()
            first_error: Exception | None = None
            for key, items in groups.items():
                try:
                    self._write_group(key[0], key[1], [item.record for item in items])
                except Exception as exc:
                    failed_keys.add(key)
                    first_error = first_error or exc
                    logger.exception(
                        "prediction log: writing %d row(s) for deployment %r hour %s under %s failed; "
                        "keeping them buffered for the next flush",
                        len(items),
                        key[0],
                        key[1],
                        self._root,
                    )
            if first_error is None:
                return len(batch)

            kept = [item for item in batch if (item.deployment_id, item.hour) in failed_keys]
            with self._lock:
                # Older rows go back in front, so the buffer stays ordered by arrival.
                self._buffer[:0] = kept
                self._retry_at = time.monotonic() + max(self._max_delay_s, _MIN_RETRY_S)
            raise first_error

    def _write_group(self, deployment_id: str, hour: str, records: list[dict[str, Any]]) -> None:
        directory = self._root / f"deployment={deployment_id}" / f"hour={hour}"
        directory.mkdir(parents=True, exist_ok=True)
        table = _to_table(records)
        name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex}.parquet"
        tmp = directory / f".{name}.tmp"
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, directory / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


_OPEN_WRITERS: weakref.WeakSet[PredictionLogWriter] = weakref.WeakSet()


@atexit.register
def _close_open_writers() -> None:
    """Daemon threads die silently at exit; write their buffered rows first."""
    for writer in list(_OPEN_WRITERS):
        try:
            writer.close()
        except Exception:
            logger.exception("prediction log: could not flush %s at exit", writer.root)


# --- rows -> Arrow ----------------------------------------------------------------------------


def _check_deployment_id(deployment_id: str) -> None:
    if not isinstance(deployment_id, str) or not _DEPLOYMENT_RE.match(deployment_id):
        raise ValueError(
            "deployment_id must be 1-128 characters of letters, digits, '.', '_' or '-', starting with "
            f"a letter or digit (it becomes a directory name); got {deployment_id!r}"
        )


def _normalize_row(row: Mapping[str, Any], index: int, id_base: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(row, Mapping):
        raise ValueError(f"row {index}: expected a mapping, got {type(row).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in row]
    if missing:
        raise ValueError(f"row {index}: missing key(s) {missing}; every row needs {list(REQUIRED_KEYS)}")

    timestamp = row["timestamp"]
    if not isinstance(timestamp, datetime) or timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError(f"row {index}: timestamp must be a timezone-aware datetime, got {timestamp!r}")
    if isinstance(timestamp, pd.Timestamp):
        timestamp = timestamp.tz_convert("UTC").to_pydatetime(warn=False)
    timestamp = timestamp.astimezone(UTC)

    status_code = row["status_code"]
    if isinstance(status_code, bool) or not isinstance(status_code, numbers.Integral):
        raise ValueError(f"row {index}: status_code must be an int, got {status_code!r}")
    latency = row["latency_ms"]
    if isinstance(latency, bool) or not isinstance(latency, numbers.Real):
        raise ValueError(f"row {index}: latency_ms must be a number, got {latency!r}")
    prediction = row["prediction"]
    if prediction is not None and not isinstance(prediction, str | numbers.Real | np.bool_):
        raise ValueError(f"row {index}: prediction must be a number, a string or None, got {prediction!r}")
    features = row["features"]
    if not isinstance(features, Mapping) or not all(isinstance(name, str) for name in features):
        raise ValueError(f"row {index}: features must be a mapping with string keys, got {features!r}")
    association_id = row.get("association_id")
    row_id = row.get("row_id")

    record: dict[str, Any] = {
        "timestamp": timestamp,
        "association_id": None if association_id is None else str(association_id),
        "model_version": str(row["model_version"]),
        "prediction": prediction,
        "status_code": int(status_code),
        "latency_ms": float(latency),
        "row_id": f"{id_base}-{index}" if row_id is None else str(row_id),
        "features": dict(features),
    }
    for key, value in row.items():
        if key in _RESERVED:
            continue
        if not isinstance(key, str) or key.startswith(FEATURE_PREFIX) or key.startswith("."):
            raise ValueError(
                f"row {index}: extra key {key!r} is not allowed; extra keys must be strings not starting "
                f"with {FEATURE_PREFIX!r} (put model inputs under 'features')"
            )
        record[key] = value
    return timestamp.strftime(_HOUR_FORMAT), record


def _to_table(records: list[dict[str, Any]]) -> pa.Table:
    extras = sorted({key for record in records for key in record} - _RESERVED)
    feature_names = sorted({name for record in records for name in record["features"]})
    columns: dict[str, pa.Array] = {
        "timestamp": pa.array([r["timestamp"] for r in records], type=pa.timestamp("us", tz="UTC")),
        "association_id": pa.array([r["association_id"] for r in records], type=pa.string()),
        "model_version": pa.array([r["model_version"] for r in records], type=pa.string()),
        "prediction": _column([r["prediction"] for r in records]),
        "status_code": pa.array([r["status_code"] for r in records], type=pa.int64()),
        "latency_ms": pa.array([r["latency_ms"] for r in records], type=pa.float64()),
        "row_id": pa.array([r["row_id"] for r in records], type=pa.string()),
    }
    for key in extras:
        columns[key] = _column([r.get(key) for r in records])
    for name in feature_names:
        columns[FEATURE_PREFIX + name] = _column([r["features"].get(name) for r in records])
    return pa.table(columns)


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _column(values: list[Any]) -> pa.Array:
    """One Arrow column per the module's typing rule; see the module docstring."""
    kinds = {_kind(v) for v in values if not _is_null(v)}
    present = [None if _is_null(v) else v for v in values]
    try:
        if not kinds:
            return pa.array(present, type=pa.null())
        if kinds == {"bool"}:
            return pa.array([None if v is None else bool(v) for v in present], type=pa.bool_())
        if kinds == {"int"}:
            return pa.array([None if v is None else int(v) for v in present], type=pa.int64())
        if kinds <= {"int", "float"}:
            return pa.array([None if v is None else float(v) for v in present], type=pa.float64())
        if kinds == {"str"}:
            return pa.array(present, type=pa.string())
    except (OverflowError, pa.ArrowInvalid):
        pass  # e.g. an int beyond int64: fall through to strings rather than fail the flush
    return pa.array([None if v is None else stringify(v) for v in present], type=pa.string())


def stringify(value: Any) -> str:
    """The one text form for values in columns that mix kinds.

    JSON-like, so dicts and lists stay machine-readable; integral floats print
    as ints so ``1`` and ``1.0`` (which Parquet round-trips can turn into each
    other) give the same string.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


# --- reading ----------------------------------------------------------------------------------


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
    _check_deployment_id(deployment_id)
    first = _hour_key(start) if start is not None else None
    last = _hour_key(end) if end is not None else None
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


def _hour_key(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).strftime(_HOUR_FORMAT)


def read_log_files(paths: Iterable[Path]) -> pd.DataFrame:
    """Load log files into one frame, ordered by ``timestamp``.

    Features stay as ``f.<name>`` columns (use :func:`feature_frame` for the
    original names); ``deployment_id`` comes from each file's path.
    """
    frames: list[pd.DataFrame] = []
    for path in paths:
        frame = pq.ParquetFile(path).read().to_pandas()
        frame.insert(0, "deployment_id", _deployment_of(Path(path)))
        frames.append(frame)
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in ("deployment_id", *CORE_COLUMNS)})
    combined = pd.concat(frames, ignore_index=True, sort=False)
    leading = ["deployment_id", *CORE_COLUMNS]
    extras = sorted(c for c in combined.columns if c not in leading and not c.startswith(FEATURE_PREFIX))
    features = sorted(c for c in combined.columns if c.startswith(FEATURE_PREFIX))
    combined = combined[[*leading, *extras, *features]]
    for name in ["prediction", *extras, *features]:
        combined[name] = _unify(combined[name])
    return combined.sort_values("timestamp", kind="stable").reset_index(drop=True)


def feature_frame(log: pd.DataFrame) -> pd.DataFrame:
    """The features of a :func:`read_log_files` frame under their original names."""
    columns = [c for c in log.columns if c.startswith(FEATURE_PREFIX)]
    return log[columns].rename(columns=lambda c: c[len(FEATURE_PREFIX) :])


def _unify(column: pd.Series) -> pd.Series:
    """Re-apply the per-column typing rule when files disagreed about a column's type."""
    if column.dtype != object:
        return column
    kinds = {_kind(v) for v in column if not _is_null(v)}
    mixed = len(kinds) > 1 and not kinds <= {"int", "float"}
    # Files lacking the column contribute NaN; make every missing value None.
    return column.map(lambda v: None if _is_null(v) else stringify(v) if mixed else v).astype(object)


def _deployment_of(path: Path) -> str | None:
    for part in reversed(path.parts):
        if part.startswith("deployment="):
            return part[len("deployment=") :]
    return None
