"""Turn a raw feature frame into the numeric matrix every model family accepts.

The preprocessor lives inside each fitted pipeline, so serving gets raw rows
and must cope with what training never saw: new category values, a column
that arrives entirely empty, or another spelling of "missing". It is built
from scikit-learn parts plus one function of this module
(:func:`as_category_strings`), which a saved model therefore references: skops
must trust ``airflow_mlops.automl.preprocess.as_category_strings`` to load it.
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
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

FeatureType = Literal["numeric", "categorical"]

#: A category seen in fewer than this share of rows joins the "infrequent" bucket:
#: too rare to learn from, and a column per rare value only slows every model down.
MIN_CATEGORY_FREQUENCY = 0.01
#: At most this many one-hot columns per categorical feature (an ID-like column
#: would otherwise add a column per row).
MAX_CATEGORIES = 32


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


def infer_feature_types(df: pd.DataFrame, target: str, exclude: Iterable[str] = ()) -> dict[str, FeatureType]:
    """Decide how each column is encoded, in the frame's column order.

    Booleans count as numeric (a 0/1 column needs no one-hot). Dates and other
    types that would need their own feature engineering are refused by name
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
        elif (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        ):
            types[str(column)] = "categorical"
        else:
            unsupported.append(f"{column!r} ({dtype})")
    if unsupported:
        raise ValueError(
            f"unsupported feature dtypes: {', '.join(unsupported)}; convert them or pass them in exclude"
        )
    if not types:
        raise ValueError(f"no feature columns left besides target {target!r}")
    return types


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
    bucket when there is one, else to all zeros, instead of failing a request.
    ``keep_empty_features`` keeps an all-missing column's output present, so
    the matrix width never depends on which values happened to be missing.
    Output is dense: some families (histogram boosting) refuse sparse input,
    and ``max_categories`` keeps the width small anyway.
    """
    bad = {name: kind for name, kind in feature_types.items() if kind not in ("numeric", "categorical")}
    if bad:
        raise ValueError(f"feature types must be 'numeric' or 'categorical'; got {bad}")
    numeric = [name for name, kind in feature_types.items() if kind == "numeric"]
    categorical = [name for name, kind in feature_types.items() if kind == "categorical"]
    if not numeric and not categorical:
        raise ValueError("feature_types is empty; there is nothing to preprocess")

    transformers: list[tuple[str, Pipeline, list[str]]] = []
    if numeric:
        steps: list[tuple[str, object]] = [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))
        ]
        if scale:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        (
                            "as_strings",
                            FunctionTransformer(as_category_strings, feature_names_out="one-to-one"),
                        ),
                        (
                            "impute",
                            SimpleImputer(
                                strategy="constant", fill_value="missing", keep_empty_features=True
                            ),
                        ),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                min_frequency=min_frequency,
                                max_categories=max_categories,
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                categorical,
            )
        )
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
