"""From a sweep's candidate to a registered model version with its baseline: one refit-and-register path.

Above ``automl`` (fitting), ``datasets`` (snapshots), ``registry`` and
``monitoring`` (the baseline), below ``deployments``, so both the training
operators and ``Deployment.create_from_learning_model`` call the same code.
"""

from __future__ import annotations

from airflow_mlops.training.learning_model import (
    EXCLUDED_COLUMNS_TAG,
    learning_model_spec,
    register_learning_model,
)
from airflow_mlops.training.model_card import build_model_card, model_card
from airflow_mlops.training.refit import RefitModel, RefitSpec, importance_rows, refit_and_register

__all__ = [
    "EXCLUDED_COLUMNS_TAG",
    "RefitModel",
    "RefitSpec",
    "build_model_card",
    "importance_rows",
    "learning_model_spec",
    "model_card",
    "refit_and_register",
    "register_learning_model",
]
