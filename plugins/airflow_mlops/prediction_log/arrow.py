"""Columns to Arrow at flush: one type rule for every file, and :func:`stringify` for the rest."""

from __future__ import annotations

import json
import logging
import math
import numbers
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from airflow_mlops.prediction_log.chunks import Chunk, gather
from airflow_mlops.prediction_log.layout import FEATURE_PREFIX, RESERVED

logger = logging.getLogger(__name__)


def to_table(chunks: list[Chunk]) -> pa.Table:
    names: set[str] = set()
    for chunk in chunks:
        names.update(chunk.columns)
    extras = sorted(names - RESERVED - {name for name in names if name.startswith(FEATURE_PREFIX)})
    features = sorted(name for name in names if name.startswith(FEATURE_PREFIX))

    def column(name: str) -> np.ndarray:
        return gather(chunks, name)

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


def is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def value_kind(value: Any) -> str:
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
    kinds = {value_kind(v) for v in values if not is_null(v)}
    present = [None if is_null(v) else v for v in values]
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
