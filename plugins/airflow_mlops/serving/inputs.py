"""Prediction input: parse the body, check it against the model's signature, pick extra columns.

Nothing malformed may reach the model: a model that receives a dict, a word in
a numeric column or a missing column fails with a message about its internals
(or, worse, scores garbage). So every feature column is checked against the
type the model was registered with before scoring, and converted to that type,
and every refusal names the first offending row and column and what was
expected. Unseen categories are *not* refused: the pipelines encode them as
"unknown" and monitoring counts them as drift.

The checks are vectorised (``pandas.api.types.infer_dtype`` is one C pass per
column) and only fall back to a per-value scan to find the offending row once
a column is known to be bad, so a well-formed request pays almost nothing.
"""

from __future__ import annotations

import io
import json
import math
import uuid
from typing import Any

import numpy as np
import pandas as pd

from airflow_mlops.deployments import ModelVersionInfo
from airflow_mlops.serving.prediction_log import stringify

#: DataRobot limits association ids to 128 characters; actuals are joined on them.
MAX_ASSOCIATION_ID_CHARS = 128

_NUMERIC = {"numeric", "double", "float", "long", "integer"}
_CATEGORICAL = {"categorical", "string"}
_BOOLEAN = {"boolean"}
_DATETIME = {"datetime"}
_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal", "empty"}


class PredictionInputError(ValueError):
    """Bad prediction input; the message names the row and column and what was expected."""


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


# ---- body -----------------------------------------------------------------------------------


def parse_records(body: bytes, content_type: str) -> pd.DataFrame:
    """Read JSON records (a list of objects) or CSV with a header row into a frame."""
    if not body.strip():
        raise PredictionInputError("the request body is empty; send JSON records or CSV with a header row")
    if "csv" in content_type:
        try:
            return pd.read_csv(io.BytesIO(body))
        except Exception as exc:
            raise PredictionInputError(f"the CSV body could not be parsed: {exc}") from exc
    try:
        records = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
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
    return pd.DataFrame.from_records(records)


# ---- features -------------------------------------------------------------------------------


def prepare_features(frame: pd.DataFrame, features: list[str], types: dict[str, str] | None) -> pd.DataFrame:
    """The model's input: ``features`` of ``frame``, checked and converted to the signature's types."""
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise PredictionInputError(
            f"row 0: column {missing[0]!r} is missing (every row needs it); "
            f"the model expects the columns {features}"
        )
    columns: dict[str, pd.Series] = {}
    for name in features:
        series = frame[name]
        kind = (types or {}).get(name)
        if kind == "numeric":
            columns[name] = _numeric(series, name)
        elif kind == "categorical":
            columns[name] = _categorical(series, name)
        elif kind == "boolean":
            columns[name] = _boolean(series, name)
        elif kind == "datetime":
            columns[name] = _datetime(series, name)
        else:
            _plain(series, name)
            columns[name] = series
    return pd.DataFrame(columns, index=frame.index)


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


def _plain(series: pd.Series, name: str) -> None:
    if series.dtype != object:
        return
    nested = series.map(lambda v: isinstance(v, dict | list)).to_numpy(dtype=bool)
    if nested.any():
        row = _first(nested)
        raise PredictionInputError(
            f"row {row}: column {name!r} holds {_describe(series.iloc[row])}; expected a plain value"
        )


def _numeric(series: pd.Series, name: str) -> pd.Series:
    if series.dtype.kind in "iuf":
        return series
    if series.dtype.kind != "b" and pd.api.types.infer_dtype(series, skipna=True) in _NUMBER_KINDS:
        return pd.to_numeric(series)
    values = series.to_numpy(dtype=object)
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
    return pd.to_numeric(pd.Series(out, index=series.index))


def _categorical(series: pd.Series, name: str) -> pd.Series:
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return series
    _plain(series, name)
    # Numbers or booleans as categories (CSV reads "1" as 1): the pipeline saw text.
    return series.map(lambda v: None if _is_null(v) else stringify(v)).astype(object)


def _boolean(series: pd.Series, name: str) -> pd.Series:
    if series.dtype.kind == "b":
        return series
    words = {"true": True, "false": False, "1": True, "0": False}
    values = series.to_numpy(dtype=object)
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
    return pd.Series(out, index=series.index)


def _datetime(series: pd.Series, name: str) -> pd.Series:
    _plain(series, name)
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    bad = (parsed.isna() & series.notna()).to_numpy(dtype=bool)
    if bad.any():
        row = _first(bad)
        raise PredictionInputError(
            f"row {row}: column {name!r} value {_describe(series.iloc[row])} is not a timestamp (ISO-8601 expected)"
        )
    return parsed


# ---- passthrough and association ids --------------------------------------------------------


def passthrough_columns(frame: pd.DataFrame, names: list[str] | None, set_name: str | None) -> list[str]:
    """The columns to copy into each answer row (DataRobot's ``passthroughColumns[Set]``)."""
    if set_name is not None:
        if set_name != "all":
            raise PredictionInputError(f"passthroughColumnsSet={set_name!r} is not valid; expected 'all'")
        if names:
            raise PredictionInputError("give passthroughColumns or passthroughColumnsSet=all, not both")
        return [str(c) for c in frame.columns]
    if not names:
        return []
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise PredictionInputError(
            f"row 0: passthrough column {missing[0]!r} is missing; the request has the columns "
            f"{[str(c) for c in frame.columns][:50]}"
        )
    return list(dict.fromkeys(names))


def json_values(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows of ``columns`` as JSON-safe dicts: NaN becomes null, numpy scalars plain values."""
    if not columns:
        return [{} for _ in range(len(frame))]
    sub = frame[columns].astype(object).where(frame[columns].notna(), None)
    records: list[dict[str, Any]] = sub.to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if hasattr(value, "item"):
                record[key] = value.item()
            elif isinstance(value, pd.Timestamp):
                record[key] = value.isoformat()
    return records


def association_ids(frame: pd.DataFrame, settings: dict[str, Any]) -> list[str] | None:
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
    if column not in frame.columns:
        if required:
            raise PredictionInputError(
                f"row 0: association id column {column!r} is missing; this deployment requires it in every row"
            )
        return [uuid.uuid4().hex for _ in range(len(frame))]
    ids: list[str] = []
    for row, value in enumerate(frame[column].to_numpy(dtype=object)):
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
