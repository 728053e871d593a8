"""Model families the AutoML sweep can try, kept in a registry.

Importing this package registers the built-in families in the order their
warm-start trials run: the usually strongest and cheap (LightGBM, linear)
first, so a sweep with a tight budget has a good model early; slow-to-predict
neighbours last. LightGBM, XGBoost and CatBoost are
optional extras: each registers only when its package is installed, so a
deployment without them simply never proposes them (and naming one in a
sweep's ``families`` gives the usual "unknown family" error listing the rest).
"""

from __future__ import annotations

from airflow_mlops.automl.families import (
    catboost,
    extra_trees,
    hist_gradient_boosting,
    knn,
    lightgbm,
    linear,
    random_forest,
    xgboost,
)
from airflow_mlops.automl.families.base import (
    PARAM_SEPARATOR,
    ModelFamily,
    ScopedTrial,
    TrialLike,
    family_names,
    get_family,
    register_family,
    resolve_families,
    scoped_param_name,
    unregister_family,
)

#: Optional families, by name, and whether their package is importable here.
OPTIONAL_FAMILIES = {
    "lightgbm": lightgbm.available(),
    "xgboost": xgboost.available(),
    "catboost": catboost.available(),
}

for _family in (
    lightgbm.FAMILY if OPTIONAL_FAMILIES["lightgbm"] else None,
    linear.FAMILY,
    xgboost.FAMILY if OPTIONAL_FAMILIES["xgboost"] else None,
    catboost.FAMILY if OPTIONAL_FAMILIES["catboost"] else None,
    hist_gradient_boosting.FAMILY,
    random_forest.FAMILY,
    extra_trees.FAMILY,
    knn.FAMILY,
):
    if _family is not None:
        register_family(_family)

__all__ = [
    "OPTIONAL_FAMILIES",
    "PARAM_SEPARATOR",
    "ModelFamily",
    "ScopedTrial",
    "TrialLike",
    "family_names",
    "get_family",
    "register_family",
    "resolve_families",
    "scoped_param_name",
    "unregister_family",
]
