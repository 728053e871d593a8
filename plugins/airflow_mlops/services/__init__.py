"""What composes the layers below: the lifecycle steps that the REST API, the operators and Python share.

Each function here needs more than one of ``deployments``, ``retraining``,
``monitoring``, ``training`` and ``datasets``; putting them in one layer above
all of those keeps every import pointing down. Operators and API routes call
these and add only their own wiring (Asset events, HTTP status codes).
"""

from __future__ import annotations

from airflow_mlops.services.approval import approve_request
from airflow_mlops.services.dispatch import request_due_refreshes
from airflow_mlops.services.judge import DECISIONS, Judgement, judge_challenger, judge_request, judging_metric
from airflow_mlops.services.monitoring_pass import (
    MonitorResult,
    drift_health_settings,
    monitor_and_request,
    monitor_deployment,
    service_health_settings,
)
from airflow_mlops.services.replacement import deploy_model, replace_with_outcome
from airflow_mlops.services.training_data import (
    MIN_ROWS,
    TrainingSet,
    build_training_set,
    labelled_predictions,
)

__all__ = [
    "DECISIONS",
    "MIN_ROWS",
    "Judgement",
    "MonitorResult",
    "TrainingSet",
    "approve_request",
    "build_training_set",
    "deploy_model",
    "drift_health_settings",
    "judge_challenger",
    "judge_request",
    "judging_metric",
    "labelled_predictions",
    "monitor_and_request",
    "monitor_deployment",
    "replace_with_outcome",
    "request_due_refreshes",
    "service_health_settings",
]
