"""A registered model goes live: a new deployment, or a validated replacement with its outcome.

The same steps serve ``DeployModelOperator``, ``ReplaceModelOperator`` and
anyone calling from Python: the baseline from the snapshot the model was
trained on, validation before anything changes, the replacement with its reason
and details in the model history, and (for a retrain) the request's outcome.
"""

from __future__ import annotations

from typing import Any

from airflow_mlops.deployments import Deployment
from airflow_mlops.enums import MODEL_REPLACEMENT_REASON, parse_enum
from airflow_mlops.monitoring.model_baseline import baseline_for_snapshot
from airflow_mlops.retraining import record_outcome


def deploy_model(
    model_id: str,
    *,
    label: str,
    snapshot: dict[str, Any] | None = None,
    deployment_id: str | None = None,
    reason: str | MODEL_REPLACEMENT_REASON = "OTHER",
    description: str | None = None,
    actor: str | None = None,
) -> tuple[Deployment, str]:
    """Create a deployment for ``model_id``, or replace ``deployment_id``'s model; ``(deployment, action)``."""
    baseline = baseline_for_snapshot(model_id, snapshot)
    if deployment_id:
        reason = parse_enum(MODEL_REPLACEMENT_REASON, reason, field="reason")
        deployment = Deployment.get(deployment_id)
        deployment.replace_model(model_id, reason, baseline=baseline, actor=actor)
        return deployment, "replaced"
    deployment = Deployment.create_from_registered_model_version(
        model_id, label, description=description, baseline=baseline, actor=actor
    )
    return deployment, "created"


def replace_with_outcome(
    deployment_id: str,
    model_id: str,
    reason: str | MODEL_REPLACEMENT_REASON,
    *,
    snapshot: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    request_id: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Validate, replace and (with ``request_id``) mark the retraining request ``replaced``.

    A failing validation raises before anything changes, naming each failing
    check. Returns ``{deployment_id, old_model_id, new_model_id, reason, validation}``.
    """
    reason_value = parse_enum(MODEL_REPLACEMENT_REASON, reason, field="reason")
    deployment = Deployment.get(deployment_id)
    old = deployment.model["id"]
    status, message, checks = deployment.validate_replacement_model(model_id)
    if status == "failing":
        failing = {k: v["message"] for k, v in checks.items() if v["status"] == "failing"}
        raise ValueError(f"{message}: {failing}")
    details = dict(details or {})
    if request_id:
        details["request_id"] = request_id
    deployment.replace_model(
        model_id,
        reason_value,
        baseline=baseline_for_snapshot(model_id, snapshot),
        actor=actor,
        details=details,
    )
    if request_id:
        outcome = f"replaced: {old} -> {model_id} ({reason_value.value})"
        if details.get("judgement"):
            outcome += f"; {details['judgement']}"
        record_outcome(
            request_id,
            status="replaced",
            message=outcome,
            champion_model_id=old,
            challenger_model_id=model_id,
            scores=details.get("scores") or {},
            details={"snapshot": snapshot},
        )
    return {
        "deployment_id": deployment.id,
        "old_model_id": old,
        "new_model_id": model_id,
        "reason": reason_value.value,
        "validation": f"{status}: {message}",
    }
