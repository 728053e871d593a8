"""The preprocessor + estimator pipeline: what the sweep scores and what the winner is refitted as.

Kept apart from the sweep because the refit (and anyone reproducing a
leaderboard row) needs only this: a family, its parameters and the feature
types give the same unfitted pipeline the sweep cross-validated.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from airflow_mlops.automl.encoders import ENCODING_PARAM, encoding_of
from airflow_mlops.automl.families import ModelFamily, get_family
from airflow_mlops.automl.preprocess import (
    FeatureType,
    build_preprocessor,
    native_category_columns,
)
from airflow_mlops.automl.task import TaskType

__all__ = ["build_pipeline"]


def build_pipeline(
    family: str | ModelFamily,
    params: Mapping[str, Any],
    task: TaskType,
    seed: int,
    feature_types: Mapping[str, FeatureType],
    n_jobs: int | None = None,
) -> Pipeline:
    """An unfitted preprocessor + estimator pipeline; what the sweep scores and the refit fits.

    ``params`` are the family's own plus, optionally, the preprocessing the
    search chose (:data:`~airflow_mlops.automl.encoders.ENCODING_PARAM`),
    which is taken out before the family builds its estimator. ``n_jobs``
    goes to the estimator of a family that declares ``parallel = True``
    (forests, neighbours, LightGBM, XGBoost, CatBoost; under the name in the
    family's ``n_jobs_param``, default ``n_jobs``), so families need not know
    how parallel a worker is. A family with ``native_categoricals`` gets
    category columns as strings and is told which they are (``cat_features``).
    """
    fam = get_family(family) if isinstance(family, str) else family
    if task not in fam.tasks:
        raise ValueError(f"family {fam.name!r} does not support task {task!r}")
    own = dict(params)
    encoding = encoding_of(own)
    own.pop(ENCODING_PARAM, None)
    model = fam.build(own, task, seed)
    if n_jobs is not None and getattr(fam, "parallel", False):
        _set_param(model, getattr(fam, "n_jobs_param", "n_jobs"), n_jobs)
    native = bool(getattr(fam, "native_categoricals", False))
    if native and not _set_param(model, "cat_features", tuple(native_category_columns(feature_types))):
        raise ValueError(
            f"family {fam.name!r} declares native_categoricals but its model has no cat_features"
        )
    preprocessor = build_preprocessor(
        feature_types,
        scale=fam.needs_scaling,
        high_cardinality_encoding=encoding,
        native_categoricals=native,
        regression=task == "regression",
    )
    return Pipeline([("preprocess", preprocessor), ("model", model)])


def _set_param(model: Any, name: str, value: Any) -> bool:
    """Set ``name`` on the model or on the estimator it wraps (``estimator__name``); False if it has none."""
    keys = [key for key in model.get_params(deep=True) if key == name or key.endswith(f"__{name}")]
    if keys:
        model.set_params(**{keys[0]: value})
    return bool(keys)


def split_xy(
    df: pd.DataFrame, target: str, feature_types: Mapping[str, FeatureType]
) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target, without rows whose target is unknown (nothing to learn from them)."""
    if target not in df.columns:
        raise ValueError(f"target {target!r} is not a column; columns are {list(df.columns)}")
    missing = [name for name in feature_types if name not in df.columns]
    if missing:
        raise ValueError(f"feature columns {missing} are not in the frame")
    labelled = df[df[target].notna()]
    return labelled[list(feature_types)], labelled[target]


def parallelism(n_jobs: int) -> Any:
    """Cap native threads (OpenMP in histogram boosting, BLAS) at ``n_jobs``; silence fit warnings.

    joblib is left alone: a global ``n_jobs`` would also parallelise the
    column transformer, whose process start-up costs more than its work.
    """
    stack = ExitStack()
    stack.enter_context(threadpool_limits(n_jobs))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", UserWarning)
    return stack
