"""Prediction explanations: SHAP values per original column for a fitted AutoML model.

Core: imports no Airflow; above :mod:`airflow_mlops.automl` (it explains its
pipelines), below :mod:`airflow_mlops.serving` (which answers them).
"""

from __future__ import annotations

from airflow_mlops.explanations.columns import group_matrix, source_columns
from airflow_mlops.explanations.explainer import (
    BACKGROUND_ROWS,
    Explanation,
    ModelExplainer,
    NoBackgroundError,
    explainer_kind,
    needs_background,
)
from airflow_mlops.explanations.permutation import permutation_shapley
from airflow_mlops.explanations.shape import MAX_EXPLANATIONS, qualitative_strength, top_explanations

__all__ = [
    "BACKGROUND_ROWS",
    "MAX_EXPLANATIONS",
    "Explanation",
    "ModelExplainer",
    "NoBackgroundError",
    "explainer_kind",
    "group_matrix",
    "needs_background",
    "permutation_shapley",
    "qualitative_strength",
    "source_columns",
    "top_explanations",
]
