"""The closed loop's bookkeeping: the retraining policy and the requests it judges.

``policy`` reads a deployment's ``retraining`` settings; ``requests`` records
every request to retrain (from monitoring, the refresh schedule or a person),
applies the policy's reasons and cool-down, and keeps what came of it: the
champion's and challenger's scores, and whether the challenger replaced the
champion, waits for approval, or was not good enough; ``triggers`` turns a
monitoring pass's failing health into at most one request. It sits below
``deployments`` (a deployment records requests through it); the work a request
starts (a training set from the policy's window, judging champion against
challenger, approving) composes deployments, models and data, and lives in
:mod:`airflow_mlops.services`.
"""

from __future__ import annotations

from airflow_mlops.retraining.policy import RetrainingPolicy, retraining_policy
from airflow_mlops.retraining.requests import (
    ORIGINS,
    OUTCOMES,
    STATUSES,
    RequestStateError,
    RetrainingRequest,
    get_request,
    list_requests,
    mark_approved,
    mark_dispatched,
    mark_running,
    record_outcome,
    reject_request,
    request_retraining,
    requeue_request,
    start_retraining_run,
    undispatched_requests,
)
from airflow_mlops.retraining.triggers import PRIORITY, failing_reasons, request_from_monitoring

__all__ = [
    "ORIGINS",
    "OUTCOMES",
    "PRIORITY",
    "STATUSES",
    "RequestStateError",
    "RetrainingPolicy",
    "RetrainingRequest",
    "failing_reasons",
    "get_request",
    "list_requests",
    "mark_approved",
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
