"""Turn a raw feature frame into the numeric matrix every model family accepts.

The preprocessor lives inside each fitted pipeline, so serving gets raw rows
and must cope with what training never saw: new category values, a column
that arrives entirely empty, or another spelling of "missing". It is built
from scikit-learn parts plus two functions of this module
(:func:`as_category_strings`, :func:`expand_datetimes`), which a saved model
therefore references: skops must trust ``airflow_mlops.automl.preprocess.*``
to load it (the registry trusts the ``airflow_mlops.`` prefix).

Four kinds of column, each with its own treatment:

- numeric: median imputation plus a "was missing" indicator, scaled for linear models;
- categorical (few distinct values): one-hot, rare values pooled, unseen values ignored;
- high-cardinality categorical: target encoding, cross-fitted by scikit-learn's
  ``TargetEncoder`` so a row's own target never leaks into its encoding, unseen
  values mapping to the target's mean;
- datetime: expanded into year, month, day, weekday, hour and a linear time,
  then treated as numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler, TargetEncoder

FeatureType = Literal["numeric", "categorical", "high_cardinality", "datetime"]
FEATURE_TYPES: tuple[FeatureType, ...] = ("numeric", "categorical", "high_cardinality", "datetime")

#: A category seen in fewer than this share of rows joins the "infrequent" bucket:
#: too rare to learn from, and a column per rare value only slows every model down.
MIN_CATEGORY_FREQUENCY = 0.01
#: At most this many one-hot columns per categorical feature (an ID-like column
#: would otherwise add a column per row).
MAX_CATEGORIES = 32
#: A categorical column with more distinct values than this is target-encoded
#: instead of one-hot encoded: one-hot would pool most of its values as "infrequent".
HIGH_CARDINALITY = MAX_CATEGORIES
#: The parts a datetime column is expanded into (``epoch_days`` keeps the trend).
DATETIME_PARTS = ("year", "month", "day", "weekday", "hour", "epoch_days")


def as_category_strings(X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Spell every category as a string and every kind of missing as NaN.

    Real frames mix ``None``, ``NaN`` and ``pd.NA`` (nullable and Arrow-backed
    string columns), integer-coded categories, even ints and strings in one
    column; scikit-learn's imputer and encoder each choke on some of these.
    Normalising first means training and serving agree on what a value is.
    """
    values = np.asarray(pd.DataFrame(X).astype(object))
    missing = pd.isna(values)
    out: npt.NDArray[np.object_] = values.astype(str).astype(object)
    out[missing] = np.nan
    return out


def expand_datetimes(X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Each datetime column as calendar parts and days since 1970 (NaN where missing).

    Serving receives timestamps as strings (JSON, CSV), training as datetime64:
    both go through ``pd.to_datetime`` in UTC, so the parts agree. A value that
    does not parse counts as missing instead of failing the request.
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


def infer_feature_types(df: pd.DataFrame, target: str, exclude: Iterable[str] = ()) -> dict[str, FeatureType]:
    """Decide how each column is encoded, in the frame's column order.

    Booleans count as numeric (a 0/1 column needs no one-hot). A categorical
    column with more than :data:`HIGH_CARDINALITY` distinct values is
    ``high_cardinality`` (target-encoded). Datetimes (timezone-aware or not)
    are expanded. Other types (durations, nested objects) are refused by name
    rather than dropped, so nobody wonders later where a column went.
    """
    if target not in df.columns:
        raise ValueError(f"target {target!r} is not a column; columns are {list(df.columns)}")
    excluded = set(exclude)
    unknown = excluded - set(df.columns)
    if unknown:
        raise ValueError(f"exclude names columns that do not exist: {sorted(unknown)}")

    types: dict[str, FeatureType] = {}
    unsupported: list[str] = []
    for column in df.columns:
        if column == target or column in excluded:
            continue
        dtype = df[column].dtype
        if pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
        ):
            types[str(column)] = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            types[str(column)] = "datetime"
        elif (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        ):
            distinct = df[column].nunique(dropna=True)
            types[str(column)] = "high_cardinality" if distinct > HIGH_CARDINALITY else "categorical"
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
        ("as_strings", FunctionTransformer(as_category_strings, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True)),
    ]


def build_preprocessor(
    feature_types: Mapping[str, FeatureType],
    *,
    scale: bool,
    min_frequency: float | int = MIN_CATEGORY_FREQUENCY,
    max_categories: int | None = MAX_CATEGORIES,
) -> ColumnTransformer:
    """An unfitted transformer for the given columns; columns not named are dropped.

    Missing numbers get the median plus a "was missing" indicator, because
    missingness itself often predicts. Unseen categories map to the infrequent
    bucket when there is one, else to all zeros (one-hot) or the target mean
    (target encoding), instead of failing a request. ``keep_empty_features``
    keeps an all-missing column's output present, so the matrix width never
    depends on which values happened to be missing. Output is dense: some
    families (histogram boosting) refuse sparse input, and ``max_categories``
    keeps the width small anyway.
    """
    bad = {name: kind for name, kind in feature_types.items() if kind not in FEATURE_TYPES}
    if bad:
        raise ValueError(f"feature types must be one of {list(FEATURE_TYPES)}; got {bad}")
    if not feature_types:
        raise ValueError("feature_types is empty; there is nothing to preprocess")

    def columns(kind: FeatureType) -> list[str]:
        return [name for name, k in feature_types.items() if k == kind]

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
        expand = FunctionTransformer(expand_datetimes, feature_names_out=_datetime_names)
        transformers.append(
            ("datetime", Pipeline([("expand", expand), *numeric_steps()]), columns("datetime"))
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
        encode: list[tuple[str, object]] = [("target_encode", TargetEncoder())]
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
