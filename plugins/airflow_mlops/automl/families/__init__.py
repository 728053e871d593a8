"""Model families the AutoML sweep can try, kept in a registry.

Importing this package registers the built-in families, cheapest first, which
is also the order their warm-start trials run in.
"""

from __future__ import annotations

from airflow_mlops.automl.families import hist_gradient_boosting, linear, random_forest
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

for _family in (linear.FAMILY, random_forest.FAMILY, hist_gradient_boosting.FAMILY):
    register_family(_family)

__all__ = [
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
