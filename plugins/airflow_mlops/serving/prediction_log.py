"""The prediction log: every scored row, kept as append-only Parquet files.

Monitoring (drift, accuracy once actuals arrive, service health) and retraining
all read what the serving layer wrote, so the log is the contract between them.
Its design follows from who uses it:

* **The request path must stay fast.** :meth:`PredictionLogWriter.append_batch`
  takes a request's rows as columns (the checked feature frame, the model's
  output array, scalars for what every row shares), checks them in a few
  vectorised steps and buffers references; nothing is converted per row until a
  flush turns whole columns into Arrow at once. :meth:`~PredictionLogWriter.append`
  takes row dicts for callers that have rows (reporting external predictions,
  tests). Files are written when the buffer reaches ``max_rows``,
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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, cast

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


class _Same:
    """A value every row of a chunk shares, expanded to a column only at flush."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass(frozen=True)
class _Chunk:
    """Rows of one deployment and one UTC hour, as columns, waiting for a flush."""

    arrived: float  # time.monotonic() at append, drives the max_delay_s flush
    deployment_id: str
    hour: str
    size: int
    #: Log column (``f.<name>`` for features) -> an array of ``size`` values or a :class:`_Same`.
    columns: dict[str, Any]
    #: Row ids are ``<base>-<i>`` when the columns hold none (made at flush, off the request path).
    row_id_base: str = ""


@dataclass(frozen=True)
class PredictionBatch:
    """Rows for the log as columns: what every row shares is given once.

    ``timestamp`` is one tz-aware datetime for all rows (a real-time request) or
    one per row (backfills, ``timestampColumn``). ``prediction`` is ``None`` when
    predictions data collection is off; so is ``features``, otherwise a DataFrame
    or a mapping of feature name to column (``serving.inputs.Columns.data``).
    Sequences hold one value per row; ``extras`` values may be either a sequence
    or one value.
    """

    size: int
    timestamp: datetime | Sequence[datetime] | pd.Series | pd.DatetimeIndex
    model_version: str
    status_code: int
    latency_ms: float
    prediction: Sequence[Any] | np.ndarray | None = None
    features: pd.DataFrame | Mapping[str, Any] | None = None
    association_id: Sequence[str | None] | None = None
    row_id: Sequence[str] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


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
        self._buffer: list[_Chunk] = []
        self._rows = 0
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
            return self._rows

    def append(self, deployment_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Accept row dicts for one deployment; raises ``ValueError`` for malformed rows.

        All rows are validated before any is buffered, so a bad row never
        poisons the buffer (it would make every later flush fail). A flush this
        call triggers is logged, not raised, on failure: the rows were accepted
        and stay buffered, and an exception here would invite a duplicate retry.
        """
        _check_deployment_id(deployment_id)
        # One random id per call, suffixed per row: unique like a uuid per row, without a
        # urandom call for each.
        base = uuid.uuid4().hex
        normalized = [_normalize_row(row, index, base) for index, row in enumerate(rows)]
        if not normalized:
            return
        by_hour: dict[str, list[dict[str, Any]]] = {}
        for hour, record in normalized:
            by_hour.setdefault(hour, []).append(record)
        self._accept([_rows_chunk(deployment_id, hour, records) for hour, records in by_hour.items()])

    def append_batch(self, deployment_id: str, batch: PredictionBatch) -> None:
        """Accept one request's (or one batch chunk's) rows as columns; ``ValueError`` if malformed.

        The cheap path for the server: checks are per column, not per row, and
        the feature frame is kept by reference (the caller must not modify it).
        """
        _check_deployment_id(deployment_id)
        self._accept(_batch_chunks(deployment_id, batch))

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

    def _accept(self, chunks: list[_Chunk]) -> None:
        if not chunks:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError(f"prediction log writer for {self._root} is closed")
            self._buffer.extend(chunks)
            self._rows += sum(chunk.size for chunk in chunks)
            full = self._rows >= self._max_rows and chunks[0].arrived >= self._retry_at
            self._wakeup.notify()
        if full:
            # Already logged by _flush; the rows are still buffered.
            with contextlib.suppress(Exception):
                self._flush(only_if_full=True)

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
                if only_if_full and self._rows < self._max_rows:
                    return 0  # another thread flushed while this one waited
                batch, self._buffer = self._buffer, []
                written = self._rows
                self._rows = 0
            if not batch:
                return 0

            groups: dict[tuple[str, str], list[_Chunk]] = {}
            for chunk in batch:
                groups.setdefault((chunk.deployment_id, chunk.hour), []).append(chunk)
            failed_keys: set[tuple[str, str]] = set()
            first_error: Exception | None = None
            for key, chunks in groups.items():
                try:
                    self._write_group(key[0], key[1], chunks)
                except Exception as exc:
                    failed_keys.add(key)
                    first_error = first_error or exc
                    logger.exception(
                        "prediction log: writing %d row(s) for deployment %r hour %s under %s failed; "
                        "keeping them buffered for the next flush",
                        sum(chunk.size for chunk in chunks),
                        key[0],
                        key[1],
                        self._root,
                    )
            if first_error is None:
                return written

            kept = [chunk for chunk in batch if (chunk.deployment_id, chunk.hour) in failed_keys]
            with self._lock:
                # Older rows go back in front, so the buffer stays ordered by arrival.
                self._buffer[:0] = kept
                self._rows += sum(chunk.size for chunk in kept)
                self._retry_at = time.monotonic() + max(self._max_delay_s, _MIN_RETRY_S)
            raise first_error

    def _write_group(self, deployment_id: str, hour: str, chunks: list[_Chunk]) -> None:
        directory = self._root / f"deployment={deployment_id}" / f"hour={hour}"
        directory.mkdir(parents=True, exist_ok=True)
        table = _to_table(chunks)
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


# --- rows and batches -> chunks -------------------------------------------------------------


def _check_deployment_id(deployment_id: str) -> None:
    if not isinstance(deployment_id, str) or not _DEPLOYMENT_RE.match(deployment_id):
        raise ValueError(
            "deployment_id must be 1-128 characters of letters, digits, '.', '_' or '-', starting with "
            f"a letter or digit (it becomes a directory name); got {deployment_id!r}"
        )


def _check_extra_key(key: Any, where: str) -> None:
    if not isinstance(key, str) or key.startswith(FEATURE_PREFIX) or key.startswith("."):
        raise ValueError(
            f"{where}: extra key {key!r} is not allowed; extra keys must be strings not starting "
            f"with {FEATURE_PREFIX!r} (put model inputs under 'features')"
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
        _check_extra_key(key, f"row {index}")
        record[key] = value
    return timestamp.strftime(_HOUR_FORMAT), record


def object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of exactly ``values`` (``np.array`` would guess a dtype, or nest lists)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _rows_chunk(deployment_id: str, hour: str, records: list[dict[str, Any]]) -> _Chunk:
    """Normalized row dicts (one hour) as a chunk: the same columns a batch would give."""
    names = {key for record in records for key in record} - {"features", "timestamp"}
    columns: dict[str, Any] = {name: object_array([record.get(name) for record in records]) for name in names}
    # Naive UTC microseconds for numpy; normalized timestamps are UTC already.
    columns["timestamp"] = np.array(
        [record["timestamp"].replace(tzinfo=None) for record in records], dtype="datetime64[us]"
    )
    feature_names = sorted({name for record in records for name in record["features"]})
    for name in feature_names:
        columns[FEATURE_PREFIX + name] = object_array([record["features"].get(name) for record in records])
    return _Chunk(time.monotonic(), deployment_id, hour, len(records), columns)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, np.ndarray | pd.Series | pd.Index | list | tuple)


def _utc_micros(timestamp: Any, size: int) -> np.datetime64 | np.ndarray:
    """One UTC instant (naive datetime64[us]) for all rows, or one per row; refuses naive times."""
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None or timestamp.utcoffset() is None:
            raise ValueError(f"timestamp must be a timezone-aware datetime, got {timestamp!r}")
        return np.datetime64(pd.Timestamp(timestamp).tz_convert("UTC").tz_localize(None), "us")
    if not _is_sequence(timestamp) or len(timestamp) != size:
        raise ValueError(
            f"timestamp must be one timezone-aware datetime or one per row ({size}), got {type(timestamp).__name__}"
        )
    if isinstance(timestamp, pd.Series | pd.Index) and isinstance(timestamp.dtype, pd.DatetimeTZDtype):
        index = pd.DatetimeIndex(timestamp)
    else:
        values = list(timestamp)
        for row, value in enumerate(values):
            if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"timestamp row {row}: expected a timezone-aware datetime, got {value!r}")
        index = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    if index.isna().any():
        raise ValueError(f"timestamp row {int(np.flatnonzero(index.isna())[0])} is missing")
    return index.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[us]")


def _per_row(name: str, values: Any, size: int) -> np.ndarray:
    if not _is_sequence(values) or len(values) != size:
        got = len(values) if _is_sequence(values) else type(values).__name__
        raise ValueError(f"{name} must hold one value per row ({size}), got {got}")
    if isinstance(values, pd.Series | pd.Index):
        return values.to_numpy()
    return values if isinstance(values, np.ndarray) else object_array(values)


def _batch_chunks(deployment_id: str, batch: PredictionBatch) -> list[_Chunk]:
    size = batch.size
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be a row count (int >= 0), got {size!r}")
    if size == 0:
        return []
    if isinstance(batch.status_code, bool) or not isinstance(batch.status_code, numbers.Integral):
        raise ValueError(f"status_code must be an int, got {batch.status_code!r}")
    if isinstance(batch.latency_ms, bool) or not isinstance(batch.latency_ms, numbers.Real):
        raise ValueError(f"latency_ms must be a number, got {batch.latency_ms!r}")
    features = _feature_columns(batch.features, size)
    columns: dict[str, Any] = {
        "model_version": _Same(str(batch.model_version)),
        "status_code": _Same(int(batch.status_code)),
        "latency_ms": _Same(float(batch.latency_ms)),
        "prediction": _Same(None)
        if batch.prediction is None
        else _per_row("prediction", batch.prediction, size),
        "association_id": _Same(None)
        if batch.association_id is None
        else _per_row("association_id", batch.association_id, size),
    }
    if batch.row_id is not None:
        columns["row_id"] = _per_row("row_id", batch.row_id, size)
    for key, value in batch.extras.items():
        if key in _RESERVED:
            raise ValueError(f"extra key {key!r} is one of the log's own columns")
        _check_extra_key(key, "extras")
        columns[key] = _per_row(key, value, size) if _is_sequence(value) else _Same(value)
    for name, values in features.items():
        columns[FEATURE_PREFIX + name] = values
    stamps = _utc_micros(batch.timestamp, size)
    base = uuid.uuid4().hex
    now = time.monotonic()
    if isinstance(stamps, np.datetime64):
        columns["timestamp"] = _Same(stamps)
        hour = pd.Timestamp(stamps).strftime(_HOUR_FORMAT)
        return [_Chunk(now, deployment_id, hour, size, columns, base)]
    # Rows spread over hours (backfills): one chunk per hour, with ids made here so that
    # they stay unique across this call's chunks.
    columns["timestamp"] = stamps
    columns.setdefault("row_id", object_array([f"{base}-{i}" for i in range(size)]))
    hours = stamps.astype("datetime64[h]")
    chunks: list[_Chunk] = []
    for hour in np.unique(hours):
        (rows,) = np.nonzero(hours == hour)
        part = {name: value if isinstance(value, _Same) else value[rows] for name, value in columns.items()}
        label = pd.Timestamp(hour).strftime(_HOUR_FORMAT)
        chunks.append(_Chunk(now, deployment_id, label, len(rows), part))
    return chunks


# --- chunks -> Arrow --------------------------------------------------------------------------


def _expand(value: Any, size: int) -> np.ndarray:
    if not isinstance(value, _Same):
        return cast(np.ndarray, value)
    if isinstance(value.value, np.datetime64):
        return np.full(size, value.value, dtype="datetime64[us]")
    if value.value is None or isinstance(value.value, str) or not np.isscalar(value.value):
        return object_array([value.value] * size)
    return np.full(size, value.value)


def _chunk_column(chunk: _Chunk, name: str) -> np.ndarray:
    if name in chunk.columns:
        return _expand(chunk.columns[name], chunk.size)
    if name == "row_id":
        return object_array([f"{chunk.row_id_base}-{i}" for i in range(chunk.size)])
    return object_array([None] * chunk.size)


def _gather(chunks: list[_Chunk], name: str) -> np.ndarray:
    """Column ``name`` of a group of chunks, in order; a value every chunk shares costs one repeat."""
    values = [chunk.columns.get(name) for chunk in chunks]
    if all(isinstance(value, _Same) for value in values):
        shared = [cast(_Same, value).value for value in values]
        first = shared[0]
        if all(value is first or (type(value) is type(first) and value == first) for value in shared):
            return _expand(_Same(first), sum(chunk.size for chunk in chunks))
        kinds = {type(value) for value in shared}
        same_kind = len(kinds) == 1 and kinds <= {int, float, bool, np.datetime64}
        return np.repeat(np.array(shared) if same_kind else object_array(shared), [c.size for c in chunks])
    return _concat([_chunk_column(chunk, name) for chunk in chunks])


def _feature_columns(features: Any, size: int) -> dict[str, np.ndarray]:
    """One numpy array per feature, taken now (microseconds); rows become Arrow only at flush."""
    if features is None:
        return {}
    if isinstance(features, pd.DataFrame):
        if len(features) != size:
            raise ValueError(f"features must hold {size} rows, got a DataFrame of {len(features)}")
        items = [(name, features[name]) for name in features.columns]
    elif isinstance(features, Mapping):
        items = list(features.items())
    else:
        raise ValueError(
            f"features must be a DataFrame or a mapping of columns, got {type(features).__name__}"
        )
    out: dict[str, np.ndarray] = {}
    for name, values in items:
        if not isinstance(name, str):
            raise ValueError(f"feature names must be strings, got {name!r}")
        if len(values) != size:
            raise ValueError(f"feature {name!r} must hold one value per row ({size}), got {len(values)}")
        out[name] = _plain_array(values)
    return out


def _plain_array(values: Any) -> np.ndarray:
    """A feature column as numpy: numbers and bools as they are, anything else as objects."""
    if isinstance(values, np.ndarray) and (values.dtype.kind in "biuf" or values.dtype == object):
        return values
    if isinstance(values, pd.Series | pd.Index):
        array = values.to_numpy()
        if array.dtype.kind in "biuf" or array.dtype == object:
            return cast(np.ndarray, array)
    # datetimes, categoricals, extension arrays: as the Python values the row path would see.
    return object_array(pd.Series(values).astype(object).tolist())


def _concat(pieces: list[np.ndarray]) -> np.ndarray:
    kinds = {piece.dtype.kind for piece in pieces}
    if len(kinds) > 1 and not kinds <= {"i", "u", "f"}:
        # e.g. bools with ints, or numbers with missing-column fillers: decide per value.
        pieces = [piece if piece.dtype == object else object_array(piece.tolist()) for piece in pieces]
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _to_table(chunks: list[_Chunk]) -> pa.Table:
    names: set[str] = set()
    for chunk in chunks:
        names.update(chunk.columns)
    extras = sorted(names - _RESERVED - {name for name in names if name.startswith(FEATURE_PREFIX)})
    features = sorted(name for name in names if name.startswith(FEATURE_PREFIX))

    def column(name: str) -> np.ndarray:
        return _gather(chunks, name)

    table: dict[str, pa.Array] = {
        "timestamp": pa.array(column("timestamp").astype("datetime64[us]"), type=pa.timestamp("us")).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "association_id": _array_column(column("association_id"), as_string=True),
        "model_version": _array_column(column("model_version"), as_string=True),
        "prediction": _array_column(column("prediction")),
        "status_code": pa.array(column("status_code").astype(np.int64), type=pa.int64()),
        "latency_ms": pa.array(column("latency_ms").astype(np.float64), type=pa.float64()),
        "row_id": _array_column(column("row_id"), as_string=True),
    }
    for name in [*extras, *features]:
        table[name] = _array_column(column(name))
    return pa.table(table)


_INFERRED_ARROW = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "integer": pa.int64(),
    "floating": pa.float64(),
    "mixed-integer-float": pa.float64(),
}


def _array_column(values: np.ndarray, *, as_string: bool = False) -> pa.Array:
    """One Arrow column per the module's typing rule, vectorised where the kinds allow."""
    if as_string:
        return pa.array(values, type=pa.string(), from_pandas=True)
    kind = values.dtype.kind
    try:
        if kind == "b":
            return pa.array(values, type=pa.bool_())
        if kind in "iu":
            return pa.array(values, type=pa.int64())
        if kind == "f":
            return pa.array(values, type=pa.float64(), from_pandas=True)
        if kind == "O":
            inferred = pd.api.types.infer_dtype(values, skipna=True)
            if inferred == "empty":
                return pa.nulls(len(values))
            if inferred in _INFERRED_ARROW:
                return pa.array(values, type=_INFERRED_ARROW[inferred], from_pandas=True)
    except (OverflowError, pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # e.g. an int beyond int64: let the per-value rule decide (it falls back to strings)
    return _column(values.tolist())


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
