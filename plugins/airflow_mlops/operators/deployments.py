"""DeployModelOperator and ReplaceModelOperator: a registered model goes live, or takes over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.enums import MODEL_REPLACEMENT_REASON, parse_enum


def _baseline_for(model_id: str, snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    from airflow_mlops.monitoring.model_baseline import baseline_for_snapshot

    return baseline_for_snapshot(model_id, snapshot)


def _actor(context: Context) -> str:
    return f"airflow:{context['dag'].dag_id}/{context['run_id']}"


class DeployModelOperator(BaseOperator):
    """Create a deployment for a model, or replace the model of ``deployment_id`` when it is given.

    ``snapshot`` (the IngestOperator result the model was trained on) fixes the
    monitoring baseline. Returns ``{"deployment_id", "model_id", "action"}``.
    """

    template_fields: Sequence[str] = ("model", "deployment_label", "deployment_id", "reason", "snapshot")

    def __init__(
        self,
        *,
        model: dict[str, Any] | str,
        label: str,
        snapshot: dict[str, Any] | str | None = None,
        deployment_id: str | None = None,
        reason: str = MODEL_REPLACEMENT_REASON.OTHER.value,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.deployment_label = label  # BaseOperator.label is the task's display label
        self.snapshot = snapshot
        self.deployment_id = deployment_id
        self.reason = reason
        self.description = description

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.deployments import Deployment

        model_id = self.model["model_id"] if isinstance(self.model, dict) else str(self.model)
        snapshot = self.snapshot if isinstance(self.snapshot, dict) else None
        baseline = _baseline_for(model_id, snapshot)
        if self.deployment_id:
            reason = parse_enum(MODEL_REPLACEMENT_REASON, self.reason, field="reason")
            deployment = Deployment.get(self.deployment_id)
            deployment.replace_model(model_id, reason, baseline=baseline, actor=_actor(context))
            action = "replaced"
        else:
            deployment = Deployment.create_from_registered_model_version(
                model_id,
                str(self.deployment_label),
                description=self.description,
                baseline=baseline,
                actor=_actor(context),
            )
            action = "created"
        self.log.info(
            "%s deployment %s (%s) with model %s", action, deployment.id, deployment.label, model_id
        )
        return {"deployment_id": deployment.id, "model_id": model_id, "action": action}


class ReplaceModelOperator(BaseOperator):
    """Replace a deployment's model with a reason (templated, one of MODEL_REPLACEMENT_REASON).

    Validation runs first; a failing validation fails the task and leaves the
    deployment untouched. ``details`` (the trigger's evidence, both models'
    scores, the DAG run) go into the model history; with ``request_id`` the
    retraining request is marked ``replaced`` with the same scores.
    """

    template_fields: Sequence[str] = ("deployment_id", "model", "reason", "snapshot", "details", "request_id")

    def __init__(
        self,
        *,
        deployment_id: str,
        model: dict[str, Any] | str,
        reason: str,
        snapshot: dict[str, Any] | str | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deployment_id = deployment_id
        self.model = model
        self.reason = reason
        self.snapshot = snapshot
        self.details = details
        self.request_id = request_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.deployments import Deployment

        reason = parse_enum(MODEL_REPLACEMENT_REASON, self.reason, field="reason")
        model_id = self.model["model_id"] if isinstance(self.model, dict) else str(self.model)
        deployment = Deployment.get(self.deployment_id)
        old = deployment.model["id"]
        status, message, checks = deployment.validate_replacement_model(model_id)
        self.log.info("validation %s: %s", status, message)
        if status == "failing":
            failing = {k: v["message"] for k, v in checks.items() if v["status"] == "failing"}
            raise ValueError(f"{message}: {failing}")
        snapshot = self.snapshot if isinstance(self.snapshot, dict) else None
        details = dict(self.details or {})
        if self.request_id:
            details["request_id"] = self.request_id
        deployment.replace_model(
            model_id,
            reason,
            baseline=_baseline_for(model_id, snapshot),
            actor=_actor(context),
            details=details,
        )
        self.log.info("deployment %s: %s -> %s (%s)", deployment.id, old, model_id, reason.value)
        if self.request_id:
            from airflow_mlops.retraining import record_outcome

            message = f"replaced: {old} -> {model_id} ({reason.value})"
            if details.get("judgement"):
                message += f"; {details['judgement']}"
            record_outcome(
                self.request_id,
                status="replaced",
                message=message,
                champion_model_id=old,
                challenger_model_id=model_id,
                scores=details.get("scores") or {},
                details={"snapshot": snapshot},
            )
        return {
            "deployment_id": deployment.id,
            "old_model_id": old,
            "new_model_id": model_id,
            "reason": reason.value,
        }
