"""A deployed model's baseline: its training rows and its own predictions on them, binned."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from airflow_mlops.monitoring.baseline import Baseline, build_baseline


def monitored_prediction(task: str, model: Any, x: pd.DataFrame) -> np.ndarray:
    """The prediction value that target drift watches.

    Binary: the positive class's probability (drift shows before labels flip);
    multiclass: the predicted label; regression: the predicted value. The
    prediction server logs exactly this value for every row.
    """
    if task == "binary":
        return np.asarray(model.predict_proba(x))[:, -1]
    return np.asarray(model.predict(x))


def build_model_baseline(model_id: str, train: pd.DataFrame) -> Baseline:
    """Load ``model_id`` from the registry and bin its features and predictions on ``train``."""
    from airflow_mlops.config import get_settings
    from airflow_mlops.deployments import ModelRef, model_version_info
    from airflow_mlops.registry import load_model

    settings = get_settings()
    info = model_version_info(model_id)
    model = load_model(
        ModelRef.parse(model_id).uri,
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_registry_uri,
    )
    x = train[info.features]
    return build_baseline(
        x,
        info.features,
        prediction=pd.Series(monitored_prediction(info.task, model, x)),
        prediction_name=info.target,
    )
