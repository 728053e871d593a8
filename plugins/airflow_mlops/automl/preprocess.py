"""Turn a raw feature frame into the matrix every model family accepts.

The preprocessor lives inside each fitted pipeline, so serving gets raw rows
and must cope with what training never saw: new category values, a column
that arrives entirely empty, another spelling of "missing", a timestamp as
text. It is built from scikit-learn parts, functions of this module and the
transformers of :mod:`~airflow_mlops.automl.dates` and
:mod:`~airflow_mlops.automl.encoders`, which a saved model therefore
references: skops must trust ``airflow_mlops.automl.*`` to load it (the
registry trusts the ``airflow_mlops.`` prefix).

Four kinds of column, each with its own treatment:

- numeric: median imputation plus a "was missing" indicator, scaled for linear models;
- categorical (few distinct values): one-hot, rare values pooled, unseen values ignored;
- high-cardinality categorical: target encoding (cross-fitted), frequency
  encoding or both, as the search chooses (:mod:`~airflow_mlops.automl.encoders`);
- datetime (``datetime64`` or text that parses as dates): cyclical calendar
  parts, year and elapsed days (:mod:`~airflow_mlops.automl.dates`).

Numbers that are really codes (see :func:`is_code_column`) count as categorical.
A family that encodes categories itself (CatBoost) gets them as strings instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler, TargetEncoder

from airflow_mlops.automl.dates import DateFeatures, looks_like_dates
from airflow_mlops.automl.encoders import (
    DEFAULT_ENCODING,
    HIGH_CARDINALITY_ENCODINGS,
    FrequencyEncoder,
    HighCardinalityEncoding,
)

FeatureType = Literal["numeric", "categorical", "high_cardinality", "datetime"]
FEATURE_TYPES: tuple[FeatureType, ...] = ("numeric", "categorical", "high_cardinality", "datetime")
#: The kinds a family with native categorical handling receives as strings.
CATEGORY_TYPES: tuple[FeatureType, ...] = ("categorical", "high_cardinality")

#: A category seen in fewer than this share of rows joins the "infrequent" bucket:
#: too rare to learn from, and a column per rare value only slows every model down.
MIN_CATEGORY_FREQUENCY = 0.01
#: At most this many one-hot columns per categorical feature (an ID-like column
#: would otherwise add a column per row).
MAX_CATEGORIES = 32
#: A categorical column with more distinct values than this is encoded as one
#: number (target/frequency) instead of one-hot: one-hot would pool most of its values.
HIGH_CARDINALITY = MAX_CATEGORIES
#: The parts :func:`expand_datetimes` made of a datetime column (models saved before
#: :class:`~airflow_mlops.automl.dates.DateFeatures` still reference it).
DATETIME_PARTS = ("year", "month", "day", "weekday", "hour", "epoch_days")
#: A column named like an identifier (a last word ``id``, ``code``, ``zip``...) holds codes whatever its values.
_CODE_NAME = re.compile(r"(?:^|[^a-z0-9])(?:id|code|zip|zipcode|postcode)$")
_CAMEL_CODE_NAME = re.compile(r"[a-z0-9](?:Id|ID|Code)$")


def as_category_strings(X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Spell every category as a string (``3.0`` stays "3.0") and every kind of missing as NaN.

    The spelling of models registered before :func:`as_category_codes`: their
    fitted categories are spelled this way, so this function keeps doing
    exactly what it did (a saved pipeline refers to it by name).
    """
    values = np.asarray(pd.DataFrame(X).astype(object))
    missing = pd.isna(values)
    out: npt.NDArray[np.object_] = values.astype(str).astype(object)
    out[missing] = np.nan
    return out


def as_category_codes(X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Spell every category as a string and every kind of missing as NaN.

    Real frames mix ``None``, ``NaN`` and ``pd.NA`` (nullable and Arrow-backed
    string columns), integer-coded categories, even ints and strings in one
    column; scikit-learn's imputer and encoder each choke on some of these.
    Whole numbers are spelled without a decimal point: a code column with a
    gap is ``float64`` in training ("3.0") but arrives as an int ("3") in a
    JSON request. Normalising first means training and serving agree on what
    a value is.

    An object array of only strings and ``None`` (what the server hands a
    pipeline for its category columns) is answered without a DataFrame, with
    the same result: the strings as they are, ``None`` as NaN.
    """
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 2:
        values = X.ravel().tolist()
        if set(map(type, values)) <= _TEXT_OR_NONE:
            texts: npt.NDArray[np.object_] = X.copy()
            texts[X == None] = np.nan  # noqa: E711 (elementwise)
            return texts
    frame = pd.DataFrame(X)
    out: npt.NDArray[np.object_] = np.empty(frame.shape, dtype=object)
    for j, name in enumerate(frame.columns):
        column = frame[name]
        missing = column.isna().to_numpy()
        if pd.api.types.is_float_dtype(column.dtype):
            whole = column.notna() & (column % 1 == 0)
            spelled = column.astype(str)
            spelled[whole] = column[whole].astype(np.int64).astype(str)
            out[:, j] = spelled.to_numpy(dtype=object)
        elif pd.api.types.is_object_dtype(column.dtype):
            values = column.to_numpy(dtype=object)
            if set(map(type, values)) <= _TEXT_OR_NONE:  # what requests carry: no per-value work
                out[:, j] = values
            else:  # may mix numbers and text: value by value
                out[:, j] = [_spell(value) for value in values]
        else:
            out[:, j] = column.astype(object).astype(str).to_numpy(dtype=object)
        out[missing, j] = np.nan
    return out


_TEXT_OR_NONE = frozenset({str, type(None)})


def _spell(value: object) -> str:
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def as_floats(X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Numbers as float with NaN for every kind of missing (for models that take NaN as it is)."""
    frame = pd.DataFrame(X)
    return (
        np.column_stack(
            [
                pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                for c in frame.columns
            ]
        )
        if frame.shape[1]
        else np.empty((len(frame), 0))
    )


def expand_datetimes(X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Each datetime column as calendar parts and days since 1970 (NaN where missing).

    Superseded by :class:`~airflow_mlops.automl.dates.DateFeatures`; kept
    because pipelines registered before it reference this function by name.
    """
    frame = pd.DataFrame(X)
    columns: list[npt.NDArray[np.float64]] = []
    for name in frame.columns:
        when = pd.to_datetime(frame[name], errors="coerce", utc=True, format="mixed")
        epoch_days = (when - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)
        for part in (when.dt.year, when.dt.month, when.dt.day, when.dt.weekday, when.dt.hour, epoch_days):
            columns.append(pd.to_numeric(part, errors="coerce").to_numpy(dtype=float))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def _datetime_names(transformer: object, input_features: Iterable[str]) -> npt.NDArray[np.object_]:
    names = [f"{name}_{part}" for name in input_features for part in DATETIME_PARTS]
    return np.asarray(names, dtype=np.object_)


def is_code_column(name: str, column: pd.Series) -> bool:
    """Whether a numeric column holds category codes rather than quantities.

    The rule: whole numbers only (booleans excepted), at least 3 distinct
    values, and either

    - the column is named like an identifier (last word ``id``, ``code``,
      ``zip``, ``zipcode``, ``postcode``; or camelCase ``…Id``/``…Code``), or
    - at most :data:`MAX_CATEGORIES` distinct values that fill less than half
      of their range, spaced like labels (10, 20, 35, 99) rather than counts
      (0, 1, 2, 3), which stay numeric because their order means something.
    """
    if pd.api.types.is_bool_dtype(column.dtype):
        return False
    values = pd.to_numeric(column, errors="coerce").dropna()
    if values.empty or not bool((values % 1 == 0).all()):
        return False
    distinct = values.nunique()
    if distinct < 3:
        return False
    if _CODE_NAME.search(name.lower()) or _CAMEL_CODE_NAME.search(name):
        return True
    span = float(values.max() - values.min()) + 1
    return bool(distinct <= MAX_CATEGORIES and span > 2 * distinct)


def infer_feature_types(df: pd.DataFrame, target: str, exclude: Iterable[str] = ()) -> dict[str, FeatureType]:
    """Decide how each column is encoded, in the frame's column order.

    Booleans count as numeric (a 0/1 column needs no one-hot); numbers that
    are codes (:func:`is_code_column`) as categorical. A categorical column
    with more than :data:`HIGH_CARDINALITY` distinct values is
    ``high_cardinality``. Datetimes (timezone-aware or not, or text that
    parses as dates: :func:`~airflow_mlops.automl.dates.looks_like_dates`)
    are ``datetime``. Other types (durations, nested objects) are refused by
    name rather than dropped, so nobody wonders later where a column went.
    """
    if target not in df.columns:
        raise ValueError(f"target {target!r} is not a column; columns are {list(df.columns)}")
    excluded = set(exclude)
    unknown = excluded - set(df.columns)
    if unknown:
        raise ValueError(f"exclude names columns that do not exist: {sorted(unknown)}")

    def categorical(column: pd.Series) -> FeatureType:
        return "high_cardinality" if column.nunique(dropna=True) > HIGH_CARDINALITY else "categorical"

    types: dict[str, FeatureType] = {}
    unsupported: list[str] = []
    for column in df.columns:
        if column == target or column in excluded:
            continue
        dtype = df[column].dtype
        if pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
        ):
            types[str(column)] = (
                categorical(df[column]) if is_code_column(str(column), df[column]) else "numeric"
            )
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            types[str(column)] = "datetime"
        elif isinstance(dtype, pd.CategoricalDtype):
            types[str(column)] = categorical(df[column])
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            types[str(column)] = "datetime" if looks_like_dates(df[column]) else categorical(df[column])
        else:
            unsupported.append(f"{column!r} ({dtype})")
    if unsupported:
        raise ValueError(
            f"unsupported feature dtypes: {', '.join(unsupported)}; convert them or pass them in exclude"
        )
    if not types:
        raise ValueError(f"no feature columns left besides target {target!r}")
    return types


def _category_steps() -> list[tuple[str, object]]:
    return [
        ("as_strings", FunctionTransformer(as_category_codes, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True)),
    ]


def _high_cardinality_encoder(encoding: HighCardinalityEncoding, regression: bool) -> object:
    # TargetEncoder guesses the target's type; a regression target of whole numbers (prices in
    # dollars) would be taken for hundreds of classes and fail its stratified folds.
    target_type = "continuous" if regression else "auto"
    if encoding == "target":
        return TargetEncoder(target_type=target_type)
    if encoding == "frequency":
        return FrequencyEncoder()
    return FeatureUnion(
        [("target", TargetEncoder(target_type=target_type)), ("frequency", FrequencyEncoder())]
    )


def native_category_columns(feature_types: Mapping[str, FeatureType]) -> list[int]:
    """Where :func:`build_preprocessor` with ``native_categoricals`` puts the category columns: first."""
    return list(range(sum(kind in CATEGORY_TYPES for kind in feature_types.values())))


def build_preprocessor(
    feature_types: Mapping[str, FeatureType],
    *,
    scale: bool,
    min_frequency: float | int = MIN_CATEGORY_FREQUENCY,
    max_categories: int | None = MAX_CATEGORIES,
    high_cardinality_encoding: HighCardinalityEncoding = DEFAULT_ENCODING,
    native_categoricals: bool = False,
    regression: bool = False,
) -> ColumnTransformer:
    """An unfitted transformer for the given columns; columns not named are dropped.

    Missing numbers get the median plus a "was missing" indicator, because
    missingness itself often predicts. Unseen categories map to the infrequent
    bucket when there is one, else to all zeros (one-hot), the target mean
    (target encoding) or 0 (frequency), instead of failing a request.
    ``keep_empty_features`` keeps an all-missing column's output present, so
    the matrix width never depends on which values happened to be missing.
    Output is dense: some families (histogram boosting) refuse sparse input,
    and ``max_categories`` keeps the width small anyway.

    ``native_categoricals`` is for a model that encodes categories and
    handles missing numbers itself (CatBoost): every category column comes
    first, as strings with "missing" for missing
    (:func:`native_category_columns` says where), then the numbers with NaN
    left in, then the date features; the output is then an object array.
    """
    bad = {name: kind for name, kind in feature_types.items() if kind not in FEATURE_TYPES}
    if bad:
        raise ValueError(f"feature types must be one of {list(FEATURE_TYPES)}; got {bad}")
    if not feature_types:
        raise ValueError("feature_types is empty; there is nothing to preprocess")
    if high_cardinality_encoding not in HIGH_CARDINALITY_ENCODINGS:
        raise ValueError(
            f"high_cardinality_encoding={high_cardinality_encoding!r} is not one of "
            f"{list(HIGH_CARDINALITY_ENCODINGS)}"
        )

    def columns(*kinds: FeatureType) -> list[str]:
        return [name for name, k in feature_types.items() if k in kinds]

    if native_categoricals:
        return _native_preprocessor(columns(*CATEGORY_TYPES), columns("numeric"), columns("datetime"))

    def numeric_steps() -> list[tuple[str, object]]:
        steps: list[tuple[str, object]] = [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))
        ]
        if scale:
            steps.append(("scale", StandardScaler()))
        return steps

    transformers: list[tuple[str, Pipeline, list[str]]] = []
    if columns("numeric"):
        transformers.append(("numeric", Pipeline(numeric_steps()), columns("numeric")))
    if columns("datetime"):
        transformers.append(
            ("datetime", Pipeline([("dates", DateFeatures()), *numeric_steps()]), columns("datetime"))
        )
    if columns("categorical"):
        onehot = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=min_frequency,
            max_categories=max_categories,
            sparse_output=False,
        )
        transformers.append(
            ("categorical", Pipeline([*_category_steps(), ("onehot", onehot)]), columns("categorical"))
        )
    if columns("high_cardinality"):
        encode: list[tuple[str, object]] = [
            ("encode", _high_cardinality_encoder(high_cardinality_encoding, regression))
        ]
        if scale:
            encode.append(("scale", StandardScaler()))
        transformers.append(
            (
                "high_cardinality",
                Pipeline([*_category_steps(), *encode]),
                columns("high_cardinality"),
            )
        )
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def _native_preprocessor(categories: list[str], numbers: list[str], dates: list[str]) -> ColumnTransformer:
    transformers: list[tuple[str, object, list[str]]] = []
    if categories:
        transformers.append(("categories", Pipeline(_category_steps()), categories))
    if numbers:
        transformers.append(
            ("numeric", FunctionTransformer(as_floats, feature_names_out="one-to-one"), numbers)
        )
    if dates:
        transformers.append(("datetime", DateFeatures(), dates))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
