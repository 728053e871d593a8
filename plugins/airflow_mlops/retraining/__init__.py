"""The closed loop's bookkeeping: the retraining policy and the requests it judges.

``policy`` reads a deployment's ``retraining`` settings; ``requests`` records
every request to retrain (from monitoring, the refresh schedule or a person),
applies the policy's reasons and cool-down, and keeps what came of it: the
champion's and challenger's scores, and whether the challenger replaced the
champion, waits for approval, or was not good enough. ``training_data``
builds a retrain's training set from the policy's window (source rows plus
logged predictions joined with actuals); ``judge`` scores champion and
challenger on the same recent labelled rows and decides.
"""

from __future__ import annotations

from airflow_mlops.retraining.judge import DECISIONS, Judgement, judge_challenger, judging_metric
from airflow_mlops.retraining.policy import RetrainingPolicy, retraining_policy
from airflow_mlops.retraining.requests import (
    ORIGINS,
    OUTCOMES,
    STATUSES,
    RequestStateError,
    RetrainingRequest,
    approve_request,
    get_request,
    list_requests,
    mark_dispatched,
    mark_running,
    record_outcome,
    reject_request,
    request_retraining,
    requeue_request,
    start_retraining_run,
    undispatched_requests,
)
from airflow_mlops.retraining.training_data import (
    MIN_ROWS,
    TrainingSet,
    build_training_set,
    labelled_predictions,
)
from airflow_mlops.retraining.triggers import PRIORITY, failing_reasons, request_from_monitoring

__all__ = [
    "DECISIONS",
    "MIN_ROWS",
    "ORIGINS",
    "OUTCOMES",
    "PRIORITY",
    "STATUSES",
    "Judgement",
    "RequestStateError",
    "RetrainingPolicy",
    "RetrainingRequest",
    "TrainingSet",
    "approve_request",
    "build_training_set",
    "failing_reasons",
    "get_request",
    "judge_challenger",
    "judging_metric",
    "labelled_predictions",
    "list_requests",
    "mark_dispatched",
    "mark_running",
    "record_outcome",
    "reject_request",
    "request_from_monitoring",
    "request_retraining",
    "requeue_request",
    "retraining_policy",
    "start_retraining_run",
    "undispatched_requests",
]
