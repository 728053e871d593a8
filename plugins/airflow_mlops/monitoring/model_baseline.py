"""A deployed model's baseline: its training rows and its own predictions on them, binned."""

from __future__ import annotations

import pandas as pd

from airflow_mlops.monitoring.baseline import Baseline, build_baseline


def build_model_baseline(model_id: str, train: pd.DataFrame) -> Baseline:
    """Load ``model_id`` from the registry and bin its features and predictions on ``train``."""
    from airflow_mlops.config import get_settings
    from airflow_mlops.deployments import ModelRef, model_version_info
    from airflow_mlops.registry import load_predictor, monitored_values

    settings = get_settings()
    info = model_version_info(model_id)
    x = train[info.features]
    if info.kind == "external":
        # Its predictions are made elsewhere: target drift is judged against the
        # training target, the nearest thing to "what the model predicted then".
        return build_baseline(x, info.features, prediction=train[info.target], prediction_name=info.target)
    predictor = load_predictor(
        ModelRef.parse(model_id).id,
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_registry_uri,
    )
    return build_baseline(
        x,
        info.features,
        prediction=pd.Series(monitored_values(info.task, predictor.predict(x))),
        prediction_name=info.target,
    )
