"""Logical column types: how a column's type is inferred, and how values are read as a type.

Every source hands over Arrow arrays, but what they hold differs: a CSV gives
strings only, Parquet and SQL give typed values, SQLite even gives ints and
strings in one column. A snapshot, however, needs one physical type per column
for all its rows, and a contract needs a type a person can read and write.
So each column gets a *logical type*:

=============  ===================================  ================================
logical type   physical type in the snapshot        read from strings
=============  ===================================  ================================
numeric        ``int64`` or ``float64`` (``dtype``)  decimal or scientific notation
boolean        ``bool``                             ``true``/``false``, any case
datetime       ``timestamp[ns, UTC]``               ISO 8601 (naive = UTC), or a format
categorical    ``string``                           as is (few distinct values)
text           ``string``                           as is (many distinct values)
=============  ===================================  ================================

Inference looks at the first chunk of a first ingestion only (the type must be
fixed before the first rows are written). A column is numeric, boolean or
datetime when at least :data:`MAJORITY` of its non-null values read as that
type; the rest are then *invalid values* with their row numbers (mixed types),
rather than silently turning the whole column into text. Reading a value as a
type never raises: :func:`coerce` returns the typed array and a mask of the
non-null inputs it could not read, so checks can name them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LogicalType = Literal["numeric", "categorical", "boolean", "datetime", "text"]
LOGICAL_TYPES: tuple[LogicalType, ...] = get_args(LogicalType)
NumericDtype = Literal["int", "float"]
NUMERIC_DTYPES: tuple[NumericDtype, ...] = get_args(NumericDtype)

#: Share of a column's non-null values that must read as a type for the column to get it.
MAJORITY = 0.9
#: A string column with at most this many distinct values (or at most this share of
#: its rows) is categorical; above both, free text such as ids or comments.
CATEGORICAL_MAX_DISTINCT = 50
CATEGORICAL_MAX_SHARE = 0.05

TIMESTAMP = pa.timestamp("ns", tz="UTC")
_NAIVE = pa.timestamp("ns")

_INT_RE = r"^[+-]?[0-9]+$"
_FLOAT_RE = r"(?i)^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf|infinity|nan)$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_OFFSET_RE = r"(?i)[t ][0-9:.,]+(z|[+-][0-9]{2}(:?[0-9]{2})?)$"

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ColumnType:
    """A column's logical type plus what fixes its physical type (numeric dtype, date format)."""

    logical: LogicalType
    dtype: NumericDtype | None = None
    format: str | None = None

    def __post_init__(self) -> None:
        if self.logical not in LOGICAL_TYPES:
            raise ValueError(f"logical type must be one of {list(LOGICAL_TYPES)}, got {self.logical!r}")
        if self.logical == "numeric" and self.dtype not in NUMERIC_DTYPES:
            raise ValueError(f"numeric dtype must be one of {list(NUMERIC_DTYPES)}, got {self.dtype!r}")

    @property
    def arrow_type(self) -> pa.DataType:
        if self.logical == "numeric":
            return pa.int64() if self.dtype == "int" else pa.float64()
        if self.logical == "boolean":
            return pa.bool_()
        if self.logical == "datetime":
            return TIMESTAMP
        return pa.string()

    def expected(self) -> str:
        """What a value of this type looks like, for error messages."""
        if self.logical == "numeric":
            return "an integer" if self.dtype == "int" else "a finite number"
        if self.logical == "boolean":
            return "true or false"
        if self.logical == "datetime":
            return f"a timestamp in format {self.format!r}" if self.format else "an ISO 8601 timestamp"
        return "text"

    def describe(self) -> str:
        if self.logical == "numeric":
            return f"numeric ({self.dtype})"
        if self.logical == "datetime" and self.format:
            return f"datetime ({self.format})"
        return self.logical


@dataclass(frozen=True)
class Coerced:
    """An array read as a type, and which non-null inputs could not be read."""

    values: pa.Array
    invalid: Mask


def infer(array: pa.Array | pa.ChunkedArray) -> tuple[ColumnType, float]:
    """The logical type of ``array`` and the share of its non-null values that read as it."""
    array = _one_chunk(array)
    kind = array.type
    if pa.types.is_null(kind):
        return ColumnType("text"), 1.0
    if pa.types.is_integer(kind):
        return ColumnType("numeric", "int"), 1.0
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return ColumnType("numeric", "float"), 1.0
    if pa.types.is_boolean(kind):
        return ColumnType("boolean"), 1.0
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return ColumnType("datetime"), 1.0
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return _text_or_categorical(to_strings(array)), 1.0

    present = len(array) - array.null_count
    if present == 0:
        return ColumnType("text"), 1.0
    trimmed = pc.utf8_trim_whitespace(array)
    numeric = _matches(trimmed, _FLOAT_RE)
    share = float(numeric.sum()) / present
    if share >= MAJORITY:
        integral = _matches(trimmed, _INT_RE)
        dtype: NumericDtype = "int" if int(integral.sum()) == int(numeric.sum()) else "float"
        if dtype == "int" and not _fits_int64(trimmed, integral):
            dtype = "float"
        return ColumnType("numeric", dtype), share
    lower = pc.utf8_lower(trimmed)
    boolean = np.asarray(pc.fill_null(pc.is_in(lower, value_set=pa.array(["true", "false"])), False))
    share = float(boolean.sum()) / present
    if share >= MAJORITY:
        return ColumnType("boolean"), share
    if float(_matches(trimmed, _DATE_RE).sum()) / present >= MAJORITY:
        parsed = _parse_datetimes(trimmed, None)
        share = float(len(parsed) - parsed.null_count) / present
        if share >= MAJORITY:
            return ColumnType("datetime"), share
    return _text_or_categorical(array), 1.0


def coerce(array: pa.Array | pa.ChunkedArray, column_type: ColumnType) -> Coerced:
    """Read ``array`` as ``column_type``; unreadable non-null values become null and are flagged."""
    array = _one_chunk(array)
    target = column_type.arrow_type
    was_null = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_null(array.type):
        return Coerced(pa.nulls(len(array), type=target), np.zeros(len(array), dtype=bool))
    values = array if array.type == target else _read_as(array, column_type)
    if pa.types.is_floating(values.type):
        values = _null_infinities(values)
    is_null = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return Coerced(values, is_null & ~was_null)


def _null_infinities(floats: pa.Array) -> pa.Array:
    """``inf`` and ``-inf`` as null, so :func:`coerce` flags them like any unreadable value.

    A literal ``inf`` parses as a float, but no statistic survives it (the
    profile's variance overflows, a model's scaler divides by it), so it goes
    through the dataset's invalid-value policy (fail, warn or quarantine) with
    its row and column named. NaN is left alone: Arrow readers already treat
    it as missing, and Parquet writers use it for missing values.
    """
    infinite = pc.fill_null(pc.is_inf(floats), False)
    if not pc.any(infinite).as_py():
        return floats
    return pc.if_else(infinite, pa.scalar(None, floats.type), floats)


def _read_as(array: pa.Array, column_type: ColumnType) -> pa.Array:
    kind = array.type
    target = column_type.arrow_type
    logical = column_type.logical
    is_string = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if logical in ("categorical", "text"):
        return array if is_string else to_strings(array)
    if logical == "numeric":
        if is_string:
            try:  # well-formed data: one vectorised cast, no per-value matching
                return pc.cast(array, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
            trimmed = pc.utf8_trim_whitespace(array)
            floats = _cast_where(trimmed, _matches(trimmed, _FLOAT_RE), pa.float64())
            if column_type.dtype == "float":
                return floats
            ints = _cast_where(trimmed, _matches(trimmed, _INT_RE), pa.int64())
            # "3.0" or "1e3" in an integer column is still an integer.
            whole = _whole_floats(floats)
            return pc.if_else(pc.is_valid(ints), ints, _cast_where(floats, whole, pa.int64()))
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            floats = pc.cast(array, pa.float64())
            if column_type.dtype == "float":
                return floats
            if pa.types.is_integer(kind):
                return _cast_where(array, np.ones(len(array), dtype=bool), pa.int64())
            return _cast_where(floats, _whole_floats(floats), pa.int64())
        return pa.nulls(len(array), type=target)
    if logical == "boolean":
        if is_string:
            lower = pc.utf8_lower(pc.utf8_trim_whitespace(array))
            known = pc.is_in(lower, value_set=pa.array(["true", "false"]))
            return pc.if_else(known, pc.equal(lower, "true"), pa.scalar(None, pa.bool_()))
        return pa.nulls(len(array), type=target)
    # datetime
    if is_string:
        return _parse_datetimes(pc.utf8_trim_whitespace(array), column_type.format)
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return pc.cast(pc.cast(array, _NAIVE, safe=False), TIMESTAMP)
        return pc.cast(array, TIMESTAMP, safe=False)
    if pa.types.is_date(kind):
        return pc.cast(pc.cast(array, _NAIVE), TIMESTAMP)
    return pa.nulls(len(array), type=target)


def _parse_datetimes(strings: pa.Array, fmt: str | None) -> pa.Array:
    """ISO 8601 (naive taken as UTC, offsets converted) or ``fmt``; unparseable values become null.

    Values with and without an offset are parsed apart: mixed in one pandas call,
    a naive value would silently inherit its neighbour's offset.
    """
    if fmt:
        # Naive results are taken as UTC, like naive ISO 8601 values.
        return pc.cast(pc.strptime(strings, format=fmt, unit="ns", error_is_null=True), TIMESTAMP)
    for kind in (TIMESTAMP, _NAIVE):  # all with offsets, or all without: one vectorised cast
        try:
            return pc.cast(pc.cast(strings, kind), TIMESTAMP)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    aware = _matches(strings, _OFFSET_RE)
    parts = []
    for selected, kind in ((aware, TIMESTAMP), (~aware, _NAIVE)):
        subset = pc.if_else(pa.array(selected), strings, pa.scalar(None, pa.string()))
        parts.append(_parse_iso(subset, kind))
    return pc.if_else(pa.array(aware), parts[0], parts[1])


def _parse_iso(strings: pa.Array, kind: pa.DataType) -> pa.Array:
    if strings.null_count == len(strings):
        return pa.nulls(len(strings), type=TIMESTAMP)
    try:
        return pc.cast(pc.cast(strings, kind), TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Some values are not ISO 8601 as Arrow reads it: pandas decides per value.
    series = pd.Series(strings.to_numpy(zero_copy_only=False), dtype=object)
    if kind == TIMESTAMP:
        parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    else:
        parsed = pd.to_datetime(series, format="ISO8601", errors="coerce").dt.tz_localize("UTC")
    return pa.array(parsed.dt.as_unit("ns"), type=TIMESTAMP, from_pandas=True)


def _matches(strings: pa.Array, pattern: str) -> Mask:
    return np.asarray(
        pc.fill_null(pc.match_substring_regex(strings, pattern=pattern), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )


def _cast_where(array: pa.Array, mask: Mask, target: pa.DataType) -> pa.Array:
    """Cast the values selected by ``mask``; the others (and any that overflow) become null."""
    selected = pc.if_else(pa.array(mask, type=pa.bool_()), array, pa.scalar(None, type=array.type))
    try:
        return pc.cast(selected, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Rare: a value that matches but does not fit (an integer beyond int64); go one by one.
        out = []
        for value in selected.to_pylist():
            try:
                out.append(
                    pa.scalar(value, type=array.type).cast(target).as_py() if value is not None else None
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
                out.append(None)
        return pa.array(out, type=target)


def _whole_floats(floats: pa.Array) -> Mask:
    values = np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 2.0**63)
    return np.asarray(whole, dtype=bool)


def _fits_int64(trimmed: pa.Array, integral: Mask) -> bool:
    try:
        pc.cast(pc.if_else(pa.array(integral), trimmed, pa.scalar(None, pa.string())), pa.int64())
    except pa.ArrowInvalid:
        return False
    return True


def _text_or_categorical(strings: pa.Array) -> ColumnType:
    present = len(strings) - strings.null_count
    distinct = int(pc.count_distinct(strings).as_py())
    if distinct <= CATEGORICAL_MAX_DISTINCT or distinct <= CATEGORICAL_MAX_SHARE * present:
        return ColumnType("categorical")
    return ColumnType("text")


def to_strings(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any array as strings: Arrow's cast where it exists, JSON for nested values."""
    array = _one_chunk(array)
    if pa.types.is_string(array.type):
        return array
    try:
        return pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array(
            [
                None if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
                for v in array.to_pylist()
            ],
            type=pa.string(),
        )


def _one_chunk(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 1:
            return array.chunk(0)
        return array.combine_chunks() if array.num_chunks else pa.array([], type=array.type)
    return array
