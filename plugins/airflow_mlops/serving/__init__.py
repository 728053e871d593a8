"""Online serving: the scoring API, model loading, the prediction log, and reported predictions."""

from __future__ import annotations

from airflow_mlops.serving.reporting import report_predictions

__all__ = ["report_predictions"]
