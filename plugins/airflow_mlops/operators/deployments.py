"""DeployModelOperator and ReplaceModelOperator: a registered model goes live, or takes over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.enums import MODEL_REPLACEMENT_REASON
from airflow_mlops.hooks import apply_connections


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
        from airflow_mlops.services import deploy_model

        apply_connections(self.log)
        model_id = self.model["model_id"] if isinstance(self.model, dict) else str(self.model)
        deployment, action = deploy_model(
            model_id,
            label=str(self.deployment_label),
            snapshot=self.snapshot if isinstance(self.snapshot, dict) else None,
            deployment_id=self.deployment_id,
            reason=self.reason,
            description=self.description,
            actor=_actor(context),
        )
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
        from airflow_mlops.services import replace_with_outcome

        apply_connections(self.log)
        model_id = self.model["model_id"] if isinstance(self.model, dict) else str(self.model)
        result = replace_with_outcome(
            self.deployment_id,
            model_id,
            self.reason,
            snapshot=self.snapshot if isinstance(self.snapshot, dict) else None,
            details=self.details,
            request_id=self.request_id,
            actor=_actor(context),
        )
        validation = result.pop("validation")
        self.log.info("validation %s", validation)
        self.log.info(
            "deployment %s: %s -> %s (%s)",
            result["deployment_id"],
            result["old_model_id"],
            result["new_model_id"],
            result["reason"],
        )
        return result
