"""A person approves a challenger that waited for approval: it replaces the champion.

A composition of a retraining request (``retraining``), the deployment's
replacement (``deployments``) and the challenger's baseline (``monitoring``),
so it lives above all three.
"""

from __future__ import annotations

from typing import Any

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.model_baseline import baseline_for_snapshot
from airflow_mlops.retraining import RequestStateError, RetrainingRequest, get_request, mark_approved


def approve_request(
    request_id: str, *, actor: str, principal: Any = None, store_url: str | None = None
) -> RetrainingRequest:
    """Put an approved challenger in place, with the request's reason, evidence and scores.

    ``replace_model`` validates again (the deployment may have changed since the
    run) and checks ``principal`` may replace; a failure leaves both the
    deployment and the request as they were.
    """
    url = store_url or get_settings().store_url
    request = get_request(request_id, store_url=url)
    if request.status != "awaiting_approval":
        raise RequestStateError(
            f"cannot approve request {request_id}: its status is {request.status!r}; "
            "approve needs 'awaiting_approval'"
        )
    if not request.challenger_model_id:
        raise RequestStateError(f"request {request_id} has no challenger model to approve")
    deployment = Deployment.get(request.deployment_id, store_url=url)
    champion = deployment.model["id"]
    snapshot = request.details.get("snapshot")
    deployment.replace_model(
        request.challenger_model_id,
        request.reason,
        baseline=baseline_for_snapshot(request.challenger_model_id, snapshot) if snapshot else None,
        actor=actor,
        principal=principal,
        details={
            "request_id": request.id,
            "evidence": request.evidence,
            "scores": request.scores,
            "dag_run_id": request.dag_run_id,
            "approved_by": actor,
        },
    )
    return mark_approved(request_id, actor=actor, champion_model_id=champion, store_url=url)
