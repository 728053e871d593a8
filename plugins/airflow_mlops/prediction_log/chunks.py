"""Buffered rows as columns: what a request or a list of row dicts becomes before a flush.

Nothing here converts per row on the request path; :mod:`.arrow` does the work at flush."""

from __future__ import annotations

import logging
import numbers
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from airflow_mlops.prediction_log.layout import FEATURE_PREFIX, HOUR_FORMAT, REQUIRED_KEYS, RESERVED

logger = logging.getLogger(__name__)


class Same:
    """A value every row of a chunk shares, expanded to a column only at flush."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass(frozen=True)
class Chunk:
    """Rows of one deployment and one UTC hour, as columns, waiting for a flush."""

    arrived: float  # time.monotonic() at append, drives the max_delay_s flush
    deployment_id: str
    hour: str
    size: int
    #: Log column (``f.<name>`` for features) -> an array of ``size`` values or a :class:`Same`.
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


def check_extra_key(key: Any, where: str) -> None:
    if not isinstance(key, str) or key.startswith(FEATURE_PREFIX) or key.startswith("."):
        raise ValueError(
            f"{where}: extra key {key!r} is not allowed; extra keys must be strings not starting "
            f"with {FEATURE_PREFIX!r} (put model inputs under 'features')"
        )


def normalize_row(row: Mapping[str, Any], index: int, id_base: str) -> tuple[str, dict[str, Any]]:
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
        if key in RESERVED:
            continue
        check_extra_key(key, f"row {index}")
        record[key] = value
    return timestamp.strftime(HOUR_FORMAT), record


def object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of exactly ``values`` (``np.array`` would guess a dtype, or nest lists)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def rows_chunk(deployment_id: str, hour: str, records: list[dict[str, Any]]) -> Chunk:
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
    return Chunk(time.monotonic(), deployment_id, hour, len(records), columns)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, np.ndarray | pd.Series | pd.Index | list | tuple)


def _utc_micros(timestamp: Any, size: int) -> np.datetime64 | np.ndarray:
    """One UTC instant (naive datetime64[us]) for all rows, or one per row; refuses naive times."""
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None or timestamp.utcoffset() is None:
            raise ValueError(f"timestamp must be a timezone-aware datetime, got {timestamp!r}")
        return np.datetime64(timestamp.astimezone(UTC).replace(tzinfo=None), "us")
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


def batch_chunks(deployment_id: str, batch: PredictionBatch) -> list[Chunk]:
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
        "model_version": Same(str(batch.model_version)),
        "status_code": Same(int(batch.status_code)),
        "latency_ms": Same(float(batch.latency_ms)),
        "prediction": Same(None)
        if batch.prediction is None
        else _per_row("prediction", batch.prediction, size),
        "association_id": Same(None)
        if batch.association_id is None
        else _per_row("association_id", batch.association_id, size),
    }
    if batch.row_id is not None:
        columns["row_id"] = _per_row("row_id", batch.row_id, size)
    for key, value in batch.extras.items():
        if key in RESERVED:
            raise ValueError(f"extra key {key!r} is one of the log's own columns")
        check_extra_key(key, "extras")
        columns[key] = _per_row(key, value, size) if _is_sequence(value) else Same(value)
    for name, values in features.items():
        columns[FEATURE_PREFIX + name] = values
    stamps = _utc_micros(batch.timestamp, size)
    base = uuid.uuid4().hex
    now = time.monotonic()
    if isinstance(stamps, np.datetime64):
        columns["timestamp"] = Same(stamps)
        hour = stamps.astype(datetime).strftime(HOUR_FORMAT)
        return [Chunk(now, deployment_id, hour, size, columns, base)]
    # Rows spread over hours (backfills): one chunk per hour, with ids made here so that
    # they stay unique across this call's chunks.
    columns["timestamp"] = stamps
    columns.setdefault("row_id", object_array([f"{base}-{i}" for i in range(size)]))
    hours = stamps.astype("datetime64[h]")
    chunks: list[Chunk] = []
    for hour in np.unique(hours):
        (rows,) = np.nonzero(hours == hour)
        part = {name: value if isinstance(value, Same) else value[rows] for name, value in columns.items()}
        label = pd.Timestamp(hour).strftime(HOUR_FORMAT)
        chunks.append(Chunk(now, deployment_id, label, len(rows), part))
    return chunks


# --- chunks -> Arrow --------------------------------------------------------------------------


def _expand(value: Any, size: int) -> np.ndarray:
    if not isinstance(value, Same):
        return cast(np.ndarray, value)
    if isinstance(value.value, np.datetime64):
        return np.full(size, value.value, dtype="datetime64[us]")
    if value.value is None or isinstance(value.value, str) or not np.isscalar(value.value):
        return object_array([value.value] * size)
    return np.full(size, value.value)


def _chunk_column(chunk: Chunk, name: str) -> np.ndarray:
    if name in chunk.columns:
        return _expand(chunk.columns[name], chunk.size)
    if name == "row_id":
        return object_array([f"{chunk.row_id_base}-{i}" for i in range(chunk.size)])
    return object_array([None] * chunk.size)


def gather(chunks: list[Chunk], name: str) -> np.ndarray:
    """Column ``name`` of a group of chunks, in order; a value every chunk shares costs one repeat."""
    values = [chunk.columns.get(name) for chunk in chunks]
    if all(isinstance(value, Same) for value in values):
        shared = [cast(Same, value).value for value in values]
        first = shared[0]
        if all(value is first or (type(value) is type(first) and value == first) for value in shared):
            return _expand(Same(first), sum(chunk.size for chunk in chunks))
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
