"""Humble-AI prediction warnings for regression deployments: flag predictions outside boundaries.

A regression model extrapolates silently: a prediction far outside what it
produced on data it was validated on is a sign that the input is unlike the
training data. With warnings enabled, each answer row carries
``predictionWarning: {"isOutlierPrediction": true|false}``. The boundaries are
the deployment's custom ones or the defaults stored with the model's baseline
(:mod:`airflow_mlops.monitoring.warning_boundaries`).
"""

from __future__ import annotations

import numpy as np


def outside(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """True where a prediction is outside [lower, upper]."""
    x = np.asarray(values, dtype=float)
    return (x < bounds[0]) | (x > bounds[1])
