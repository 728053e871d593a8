"""Prediction input: parse the body, check it against the model's signature, pick extra columns.

Nothing malformed may reach the model: a model that receives a dict, a word in
a numeric column or a missing column fails with a message about its internals
(or, worse, scores garbage). So every feature column is checked against the
type the model was registered with before scoring, and converted to that type,
and every refusal names the first offending row and column and what was
expected. Unseen categories are *not* refused: the pipelines encode them as
"unknown" and monitoring counts them as drift.

A request travels as :class:`Columns` (one numpy array per column), not as a
DataFrame: building and indexing a DataFrame per request cost more than the
model call itself, and the micro-batcher builds one frame per model call anyway.
The checks are vectorised (``pandas.api.types.infer_dtype`` is one C pass per
column) and only fall back to a per-value scan to find the offending row once
a column is known to be bad, so a well-formed request pays almost nothing.
"""

from __future__ import annotations

import io
import math
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

from airflow_mlops.prediction_log import object_array, stringify
from airflow_mlops.registry import ModelVersionInfo

#: DataRobot limits association ids to 128 characters; actuals are joined on them.
MAX_ASSOCIATION_ID_CHARS = 128

_NUMERIC = {"numeric", "double", "float", "long", "integer"}
_CATEGORICAL = {"categorical", "string"}
_BOOLEAN = {"boolean"}
_DATETIME = {"datetime"}
_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal", "empty"}


#: A request may carry at most this many columns (CSV header fields, or distinct keys over its JSON
#: records). Counted before anything is built per column, so a body of a million short column names
#: (7 MB, well within the byte limit) is refused in milliseconds instead of costing pandas a frame
#: of a million columns; far above any model's feature count.
MAX_COLUMNS = 10_000
#: orjson's nesting limit (not configurable there): records are flat, so anything deeper is refused.
JSON_MAX_DEPTH = 1024


class PredictionInputError(ValueError):
    """Bad prediction input; the message names the row and column and what was expected."""

    #: The HTTP status the prediction route answers with.
    status_code = 422


class TooManyColumns(PredictionInputError):
    """More than :data:`MAX_COLUMNS` columns: a size limit, like the body's, hence 413."""

    status_code = 413


def signature_types(info: ModelVersionInfo) -> dict[str, str] | None:
    """Feature → one of numeric/categorical/boolean/datetime, from the registry tag or MLflow signature.

    Read once when a model is loaded (never per request). ``None`` when the model has
    neither, in which case only presence and plain-value checks apply.
    """
    if info.feature_types is not None:
        return {name: _normalize_type(kind) for name, kind in info.feature_types.items()}
    try:
        import mlflow

        from airflow_mlops.config import get_settings
        from airflow_mlops.registry.mlflow_context import mlflow_stores

        settings = get_settings()
        with mlflow_stores(settings.mlflow_tracking_uri, settings.mlflow_registry_uri):
            signature = mlflow.models.get_model_info(info.ref.uri).signature
    except Exception:  # an external model or a version without a readable MLmodel
        return None
    if signature is None or signature.inputs is None:
        return None
    return {
        spec.name: _normalize_type(str(getattr(spec.type, "name", spec.type)))
        for spec in signature.inputs.inputs
        if getattr(spec, "name", None)
    }


def _normalize_type(kind: str) -> str:
    kind = kind.lower()
    if kind in _NUMERIC:
        return "numeric"
    if kind in _CATEGORICAL:
        return "categorical"
    if kind in _BOOLEAN:
        return "boolean"
    if kind in _DATETIME:
        return "datetime"
    return "other"


# ---- columns --------------------------------------------------------------------------------


class Columns:
    """Rows as named columns of equal length: numpy arrays (or pandas arrays for tz-aware times).

    ``size`` is explicit because a request may have no columns at all (``[{}]``).
    """

    __slots__ = ("data", "size")

    def __init__(self, data: dict[str, Any], size: int) -> None:
        self.data = data
        self.size = size

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Columns:
        return cls({str(name): frame[name].to_numpy() for name in frame.columns}, len(frame))

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Columns:
        """JSON records as object columns; a key missing from a record is a null in that row."""
        if len(records) == 1:
            return cls({str(k): object_array([v]) for k, v in records[0].items()}, 1)
        first = tuple(records[0])
        if len(first) <= MAX_COLUMNS and len(set(map(tuple, map(dict.keys, records)))) == 1:
            # Every record has the same keys in the same order (what clients send): transpose in C.
            values = zip(*map(dict.values, records), strict=True)
            return cls(
                {str(n): object_array(list(v)) for n, v in zip(first, values, strict=True)}, len(records)
            )
        names = dict.fromkeys(key for record in records for key in record)
        if len(names) > MAX_COLUMNS:
            raise TooManyColumns(
                f"the JSON records have {len(names)} distinct columns; at most {MAX_COLUMNS} are allowed"
            )
        return cls({str(n): object_array([record.get(n) for record in records]) for n in names}, len(records))

    @staticmethod
    def concat(parts: Sequence[Columns]) -> Columns:
        """Rows of ``parts`` in order (the micro-batcher's one model call for many requests)."""
        if len(parts) == 1:
            return parts[0]
        names = list(parts[0].data)
        data: dict[str, Any] = {}
        for name in names:
            pieces = [part.data[name] for part in parts]
            if all(isinstance(piece, np.ndarray) for piece in pieces):
                data[name] = np.concatenate(pieces)
            else:
                data[name] = pd.concat([pd.Series(p) for p in pieces], ignore_index=True).array
        return Columns(data, sum(part.size for part in parts))

    def __len__(self) -> int:
        return self.size

    def __contains__(self, name: object) -> bool:
        return name in self.data

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    @property
    def names(self) -> list[str]:
        return list(self.data)

    def to_frame(self, names: Sequence[str] | None = None) -> pd.DataFrame:
        order = list(self.data) if names is None else list(names)
        return pd.DataFrame({name: self.data[name] for name in order}, index=pd.RangeIndex(self.size))


# ---- body -----------------------------------------------------------------------------------


def parse_records(body: bytes, content_type: str) -> Columns:
    """Read JSON records (a list of objects) or CSV with a header row into columns.

    The body must be UTF-8; at most :data:`MAX_COLUMNS` columns, counted before the columns
    are built (for CSV, before pandas sees the body).
    """
    if not body.strip():
        raise PredictionInputError("the request body is empty; send JSON records or CSV with a header row")
    if "csv" in content_type or content_type.startswith("text/plain"):  # DataRobot: text/plain is CSV
        _check_csv_header(body)
        try:
            frame = pd.read_csv(io.BytesIO(body))
        except UnicodeDecodeError:
            raise _not_utf8(body, "CSV") from None
        except Exception as exc:
            raise PredictionInputError(f"the CSV body could not be parsed: {exc}") from exc
        return Columns.from_frame(frame)
    try:
        records = orjson.loads(body)  # strict JSON (no NaN literals), several times faster than json
    except (ValueError, UnicodeDecodeError) as exc:
        if "UTF-8" in str(exc):
            raise _not_utf8(body, "JSON") from None
        if "depth limit" in str(exc):
            raise PredictionInputError(
                f"the JSON body is nested more than {JSON_MAX_DEPTH} levels deep ({exc}); "
                "send a list of flat records (objects of column: value)"
            ) from None
        raise PredictionInputError(f"the JSON body must be a list of records (objects): {exc}") from exc
    if isinstance(records, dict):
        records = [records]  # one record on its own is unambiguous
    if not isinstance(records, list):
        raise PredictionInputError(
            f"the JSON body must be a list of records (objects), got a {type(records).__name__}"
        )
    if not records:
        raise PredictionInputError("the JSON body is an empty list; send at least one record")
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            raise PredictionInputError(
                f"row {row}: expected a record (a JSON object of column: value), got {type(record).__name__}"
            )
        if len(record) > MAX_COLUMNS:
            raise TooManyColumns(
                f"row {row}: the record has {len(record)} columns; at most {MAX_COLUMNS} are allowed"
            )
    return Columns.from_records(records)  # counts the columns over all records before building them


def _check_csv_header(body: bytes) -> None:
    """Refuse a CSV whose header row has more than MAX_COLUMNS fields, without copying it."""
    ends = [i for i in (body.find(b"\n"), body.find(b"\r")) if i >= 0]
    end = min(ends) if ends else len(body)
    fields = body.count(b",", 0, end) + 1
    if fields <= MAX_COLUMNS:
        return
    if body.find(b'"', 0, end) >= 0:  # commas inside quoted names are not separators: count exactly
        fields = re.sub(rb'"[^"]*"', b"", body[:end]).count(b",") + 1
        if fields <= MAX_COLUMNS:
            return
    raise TooManyColumns(
        f"the CSV header row has {fields} columns ({end} bytes); at most {MAX_COLUMNS} are allowed"
    )


def _not_utf8(body: bytes, kind: str) -> PredictionInputError:
    """The error for a body that is not UTF-8, naming the first bad byte (decoded only on this path)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = body[exc.start : exc.start + 1].hex()
        return PredictionInputError(
            f"the {kind} body is not UTF-8: byte 0x{bad} at offset {exc.start} ({exc.reason}); "
            "send it encoded as UTF-8"
        )
    return PredictionInputError(f"the {kind} body is not UTF-8; send it encoded as UTF-8")


def parse_timestamps(rows: Columns, column: str | None, now: datetime) -> datetime | pd.DatetimeIndex:
    """The prediction time: ``now`` for every row, or each row's value of the named column (UTC).

    The column is for backfills, simulations and predictions made elsewhere.
    """
    if column is None:
        return now
    if column not in rows:
        raise PredictionInputError(f"row 0: timestamp column {column!r} is missing")
    values = rows[column]
    # ISO8601 parses each value on its own terms; an inferred format would reject valid
    # values spelled differently from the first (datetime.isoformat() drops zero fractions).
    parsed = pd.DatetimeIndex(pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601"))
    bad = np.asarray(parsed.isna())
    if bad.any():
        row = _first(bad)
        raise PredictionInputError(
            f"row {row}: column {column!r} value {values[row]!r} is not a timestamp (ISO-8601 expected)"
        )
    return parsed


# ---- features -------------------------------------------------------------------------------


def prepare_features(rows: Columns, features: list[str], types: dict[str, str] | None) -> Columns:
    """The model's input: ``features`` of ``rows``, checked and converted to the signature's types."""
    missing = [name for name in features if name not in rows]
    if missing:
        raise PredictionInputError(
            f"row 0: column {missing[0]!r} is missing (every row needs it); "
            f"the model expects the columns {features}"
        )
    columns: dict[str, Any] = {}
    for name in features:
        values = rows[name]
        kind = (types or {}).get(name)
        if kind == "numeric":
            columns[name] = _numeric(values, name)
        elif kind == "categorical":
            columns[name] = _categorical(values, name)
        elif kind == "boolean":
            columns[name] = _boolean(values, name)
        elif kind == "datetime":
            columns[name] = _datetime(values, name)
        else:
            _plain(values, name)
            columns[name] = _natural(values)
    return Columns(columns, rows.size)


def _natural(values: Any) -> Any:
    """An untyped column as a DataFrame built from the records would hold it.

    JSON columns arrive as objects; a model without a signature (a user's pyfunc)
    should still see numbers as int64/float64 and booleans as bool.
    """
    if getattr(values, "dtype", None) != np.dtype(object):
        return values
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float"):
        try:
            return np.asarray(pd.to_numeric(values))
        except (ValueError, OverflowError):  # e.g. an integer beyond 64 bits: leave it to the model
            return values
    if kind == "boolean" and not pd.isna(values).any():
        return values.astype(bool)
    return values


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"{value!r:.80}"


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


#: What ``infer_dtype`` calls a column with no dicts or lists in it.
_PLAIN_KINDS = {"string", "empty", "integer", "floating", "mixed-integer-float", "boolean", "decimal"}


def _plain(values: Any, name: str) -> None:
    dtype = getattr(values, "dtype", None)
    if dtype is None or dtype.kind != "O" or pd.api.types.infer_dtype(values, skipna=True) in _PLAIN_KINDS:
        return
    for row, value in enumerate(values):
        if isinstance(value, dict | list):
            raise PredictionInputError(
                f"row {row}: column {name!r} holds {_describe(value)}; expected a plain value"
            )


_JSON_NUMBERS = frozenset({int, float})
_JSON_NUMBERS_OR_NULL = frozenset({int, float, type(None)})


def _numeric(values: np.ndarray, name: str) -> np.ndarray:
    kind = values.dtype.kind
    if kind in "iuf":
        return values
    if kind == "O":
        # JSON numbers arrive as Python ints and floats: one C-level conversion, not pandas' inference
        # (a profiled hot spot for small requests). bool is an int subclass, hence the exact types.
        items = values.tolist()
        kinds = set(map(type, items))
        if kinds <= _JSON_NUMBERS:
            converted = np.array(items)
            if converted.dtype.kind in "if":
                return converted
        elif kinds <= _JSON_NUMBERS_OR_NULL:  # nulls too: NaN, as pandas' to_numeric would give
            return np.array(items, dtype=float)
    if kind != "b" and pd.api.types.infer_dtype(values, skipna=True) in _NUMBER_KINDS:
        return np.asarray(pd.to_numeric(values))
    out = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        if _is_null(value):
            out[row] = None
        elif isinstance(value, bool | np.bool_) or not isinstance(value, str | int | float | np.number):
            raise PredictionInputError(
                f"row {row}: column {name!r} holds {_describe(value)}; expected a number"
            )
        elif isinstance(value, str):
            try:
                out[row] = float(value)
            except ValueError:
                raise PredictionInputError(
                    f"row {row}: column {name!r} value {value!r:.80} is not a number"
                ) from None
        else:
            out[row] = value
    return np.asarray(pd.to_numeric(out))


def _categorical(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values
    _plain(values, name)
    # Numbers or booleans as categories (CSV reads "1" as 1): the pipeline saw text.
    return object_array([None if _is_null(v) else stringify(v) for v in values])


def _boolean(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype.kind == "b":
        return values
    words = {"true": True, "false": False, "1": True, "0": False}
    out = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        if _is_null(value):
            out[row] = None
        elif isinstance(value, bool | np.bool_ | int | float | np.number) and value in (0, 1):
            out[row] = bool(value)
        elif isinstance(value, str) and value.strip().lower() in words:
            out[row] = words[value.strip().lower()]
        else:
            raise PredictionInputError(
                f"row {row}: column {name!r} value {_describe(value)} is not a boolean (true/false/1/0 expected)"
            )
    return out


def _datetime(values: Any, name: str) -> Any:
    _plain(values, name)
    parsed = pd.DatetimeIndex(pd.to_datetime(values, errors="coerce", format="ISO8601"))
    bad = np.asarray(parsed.isna()) & ~np.asarray(pd.isna(values))
    if bad.any():
        row = _first(bad)
        raise PredictionInputError(
            f"row {row}: column {name!r} value {_describe(values[row])} is not a timestamp (ISO-8601 expected)"
        )
    return parsed.array


# ---- passthrough and association ids --------------------------------------------------------


def passthrough_columns(rows: Columns, names: list[str] | None, set_name: str | None) -> list[str]:
    """The columns to copy into each answer row (DataRobot's ``passthroughColumns[Set]``)."""
    if set_name is not None:
        if set_name != "all":
            raise PredictionInputError(f"passthroughColumnsSet={set_name!r} is not valid; expected 'all'")
        if names:
            raise PredictionInputError("give passthroughColumns or passthroughColumnsSet=all, not both")
        return rows.names
    if not names:
        return []
    missing = [n for n in names if n not in rows]
    if missing:
        raise PredictionInputError(
            f"row 0: passthrough column {missing[0]!r} is missing; the request has the columns "
            f"{rows.names[:50]}"
        )
    return list(dict.fromkeys(names))


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return _json_value(value.item())
    return value


def json_values(rows: Columns, columns: list[str]) -> list[dict[str, Any]]:
    """Rows of ``columns`` as JSON-safe dicts: NaN becomes null, numpy scalars plain values."""
    if not columns:
        return [{} for _ in range(rows.size)]
    lists = [[_json_value(v) for v in rows[name]] for name in columns]
    return [dict(zip(columns, values, strict=True)) for values in zip(*lists, strict=True)]


def association_ids(rows: Columns, settings: dict[str, Any]) -> list[str] | None:
    """Each row's association id, or None when the deployment has no association id column.

    The id comes from the configured column; rows without one get a generated id
    (a random UUID) unless the deployment requires the column, in which case the
    request is refused, naming the first row without an id.
    """
    config = settings["association_id"]
    if not config["column_names"]:
        return None
    column = config["column_names"][0]
    required = bool(config["required_in_prediction_requests"])
    if column not in rows:
        if required:
            raise PredictionInputError(
                f"row 0: association id column {column!r} is missing; this deployment requires it in every row"
            )
        return [uuid.uuid4().hex for _ in range(rows.size)]
    ids: list[str] = []
    for row, value in enumerate(rows[column]):
        if _is_null(value) or (isinstance(value, str) and not value.strip()):
            if required:
                raise PredictionInputError(
                    f"row {row}: association id column {column!r} is empty; this deployment requires it"
                )
            ids.append(uuid.uuid4().hex)
            continue
        if isinstance(value, dict | list):
            raise PredictionInputError(
                f"row {row}: association id column {column!r} holds {_describe(value)}; expected a string or number"
            )
        text = stringify(value)
        if len(text) > MAX_ASSOCIATION_ID_CHARS:
            raise PredictionInputError(
                f"row {row}: association id column {column!r} value is {len(text)} characters; "
                f"at most {MAX_ASSOCIATION_ID_CHARS} are allowed"
            )
        ids.append(text)
    return ids
