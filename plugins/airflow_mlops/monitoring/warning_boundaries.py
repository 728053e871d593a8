"""Prediction-warning boundaries of a regression model, fixed with its monitoring baseline.

A regression model extrapolates silently: a prediction far outside what it
produced on data it was validated on is a sign that the input is unlike the
training data. With warnings enabled, each answer row carries
``predictionWarning: {"isOutlierPrediction": true|false}``.

**Default boundaries** are fixed when a model version is deployed, from the
model's own predictions on the snapshot's *holdout* rows: Tukey's fences,
``Q1 - 1.5 * IQR`` and ``Q3 + 1.5 * IQR`` of those predictions (when the IQR is
zero, the holdout predictions' min and max). They are stored with that
version's baseline (``baselines.baseline["prediction_warning_boundaries"]``),
so a replacement model brings its own. ``custom_boundaries`` in the
deployment's ``prediction_warning`` settings take precedence. A deployment
whose baseline holds no default boundaries (deployed without a snapshot) and
that has no custom boundaries answers without ``predictionWarning``. The server's
per-row check is :func:`airflow_mlops.serving.warnings.outside`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from airflow_mlops.config import get_settings
from airflow_mlops.registry import load_predictor, model_version_info

BASELINE_KEY = "prediction_warning_boundaries"
METHOD = "tukey_fences_1.5_iqr_of_holdout_predictions"


def default_boundaries(predictions: Any) -> dict[str, Any]:
    """Tukey's fences of holdout predictions (see the module docstring)."""
    values = np.asarray(pd.to_numeric(pd.Series(np.asarray(predictions).ravel()), errors="coerce"), float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite holdout predictions to derive prediction-warning boundaries from")
    q1, q3 = np.quantile(values, [0.25, 0.75])
    iqr = q3 - q1
    lower, upper = (q1 - 1.5 * iqr, q3 + 1.5 * iqr) if iqr > 0 else (values.min(), values.max())
    return {"lower": float(lower), "upper": float(upper), "method": METHOD, "rows": int(values.size)}


def holdout_boundaries(model_id: str, holdout: pd.DataFrame) -> dict[str, Any] | None:
    """Default boundaries for a regression model from its holdout predictions; None for other tasks."""
    info = model_version_info(model_id)
    if info.task != "regression" or info.kind == "external" or holdout.empty:
        return None
    settings = get_settings()
    predictor = load_predictor(
        info.ref.id, tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
    )
    return default_boundaries(predictor.predict(holdout[info.features]).labels)


def with_boundaries(
    baseline: dict[str, Any] | None, bounds: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """``baseline`` with the default boundaries added (monitoring ignores the extra key)."""
    if baseline is None or bounds is None:
        return baseline
    return {**baseline, BASELINE_KEY: dict(bounds)}


def boundaries_from_baseline(baseline: Mapping[str, Any] | None) -> tuple[float, float] | None:
    if not baseline or not baseline.get(BASELINE_KEY):
        return None
    bounds = baseline[BASELINE_KEY]
    return float(bounds["lower"]), float(bounds["upper"])
