"""Replacing a deployment's model: DataRobot's validation checks, then one atomic switch with its reason."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from airflow_mlops.deployments.audit import audit_snapshot, default_actor, record_audit, utc_now
from airflow_mlops.enums import HEALTH_STATUS, MODEL_REPLACEMENT_REASON, parse_enum
from airflow_mlops.errors import DeploymentNotFound, RegistryUnavailable
from airflow_mlops.registry import ModelRef, feature_types, mirror_deployment_alias, model_version_info
from airflow_mlops.security import PermissionDenied, Principal, allowed, role_of
from airflow_mlops.store import BaselineRow, DeploymentRow, HealthRow, ModelHistoryRow, session_scope

log = logging.getLogger(__name__)


class ModelReplacement:
    """The replacement half of :class:`~airflow_mlops.deployments.Deployment` (a mixin, to keep modules small)."""

    id: str
    store_url: str
    model: dict[str, Any]

    if TYPE_CHECKING:

        def _refresh(self) -> None: ...

        def refresh_model_card(self, protected_features: Sequence[str] | None = None) -> Any: ...

    def validate_replacement_model(
        self, new_model_id: str, *, principal: Principal | None = None
    ) -> tuple[str, str, dict[str, dict[str, str]]]:
        """Check that a model can take this deployment's place: DataRobot's ``(status, message, checks)``.

        Status is ``failing`` if any check fails, ``warning`` if any only warns.
        ``principal`` is the REST caller; Python callers (DAG tasks) are trusted.
        """
        checks: dict[str, dict[str, str]] = {}
        if principal is None:
            checks["permission"] = {"status": "passing", "message": "trusted in-process caller"}
        else:
            role = role_of(self.store_url, self.id, principal)
            ok = allowed(role, "replace")
            checks["permission"] = {
                "status": "passing" if ok else "failing",
                "message": f"{principal.name} is {role.value if role else 'not a member'} of this deployment"
                + ("" if ok else "; only an OWNER may replace its model"),
            }
        try:
            new = model_version_info(new_model_id)
        except (LookupError, ValueError) as exc:
            checks["modelCanBeDeployed"] = {"status": "failing", "message": str(exc)}
            return "failing", f"Model {new_model_id!r} cannot replace the current model: {exc}", checks
        current = model_version_info(self.model["id"])

        def check(name: str, ok: bool, good: str, bad: str) -> None:
            checks[name] = {"status": "passing" if ok else "failing", "message": good if ok else bad}

        check("modelCanBeDeployed", True, "the model version is registered", "")
        check(
            "modelStatus",
            new.status == "READY",
            "the model version is READY in the registry",
            f"the model version is {new.status} in the registry; wait until it is READY",
        )
        check(
            "supported",
            (new.kind == "external") == (current.kind == "external"),
            f"a {new.kind} model can replace a {current.kind} model",
            f"a {new.kind} model cannot replace a {current.kind} model: "
            "external models report predictions made elsewhere, the others are served here",
        )
        check(
            "notCurrentModel",
            new.ref != current.ref,
            "the model is not the one deployed now",
            f"{new.ref.id} is already this deployment's model",
        )
        check(
            "targetType",
            new.task == current.task,
            f"both models are {current.target_type}",
            f"the new model is {new.target_type} but the deployment is {current.target_type}",
        )
        check(
            "target",
            new.target == current.target,
            f"both models predict {current.target!r}",
            f"the new model predicts {new.target!r} but the deployment predicts {current.target!r}",
        )
        missing = sorted(set(current.features) - set(new.features))
        extra = sorted(set(new.features) - set(current.features))
        check(
            "features",
            not missing and not extra,
            "both models use the same features",
            f"features differ: missing from the new model {missing}, new in it {extra}",
        )
        old_types, new_types = feature_types(current), feature_types(new)
        if old_types is None or new_types is None:
            checks["featureDataTypes"] = {
                "status": "warning",
                "message": "one of the models records no feature data types; they could not be compared",
            }
        else:
            shared = [f for f in current.features if f in new.features]
            changed = {
                f: (old_types.get(f), new_types.get(f))
                for f in shared
                if old_types.get(f) != new_types.get(f)
            }
            check(
                "featureDataTypes",
                not changed,
                "every shared feature has the same data type in both models",
                f"feature data types differ (current, new): {changed}",
            )
        failing = [name for name, c in checks.items() if c["status"] == "failing"]
        if failing:
            return (
                "failing",
                f"Model {new.ref.id} cannot replace {current.ref.id}: {', '.join(failing)} failed",
                checks,
            )
        warnings = [name for name, c in checks.items() if c["status"] == "warning"]
        if warnings:
            return (
                "warning",
                f"Model {new.ref.id} can replace {current.ref.id}; see {', '.join(warnings)}",
                checks,
            )
        return "passing", f"Model {new.ref.id} can replace {current.ref.id}", checks

    def replace_model(
        self,
        new_model_id: str,
        reason: str | MODEL_REPLACEMENT_REASON,
        *,
        baseline: dict[str, Any] | None = None,
        actor: str | None = None,
        details: dict[str, Any] | None = None,
        principal: Principal | None = None,
    ) -> None:
        """Switch predictions to another model version and record why.

        One store transaction moves the model, stores the new baseline and appends
        the history row, so a crash leaves either the old state or the new one.
        The deployment's model card is then made again for the new model, with
        this replacement in its history (a failure there is logged, not raised:
        the card is made again when next read).
        The prediction server notices the change and swaps models without a restart.

        If MLflow does not answer, :class:`~airflow_mlops.errors.RegistryUnavailable`
        is raised before anything changes: the deployment keeps serving its model
        (the checks need both versions' registry tags).
        """
        reason_value = parse_enum(MODEL_REPLACEMENT_REASON, reason, field="reason").value
        try:
            status, message, checks = self.validate_replacement_model(new_model_id, principal=principal)
        except RegistryUnavailable as exc:
            raise RegistryUnavailable(
                f"cannot replace the model of deployment {self.id!r} with {new_model_id!r}: {exc}; "
                f"it keeps serving {self.model['id']!r}"
            ) from exc
        if checks["permission"]["status"] == "failing":
            raise PermissionDenied(checks["permission"]["message"])
        if status == "failing":
            failing = {k: c["message"] for k, c in checks.items() if c["status"] == "failing"}
            raise ValueError(f"{message}: {failing}")
        actor = actor or (principal.name if principal else None)
        new = ModelRef.parse(new_model_id)
        now = utc_now()
        with session_scope(self.store_url, write=True) as session:
            row = session.get(DeploymentRow, self.id, with_for_update=True)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {self.id!r}")
            old_version = row.model_version
            before = audit_snapshot(row)
            row.registered_model_name = new.name
            row.model_version = new.version
            row.updated_at = now
            if baseline is not None:
                session.merge(
                    BaselineRow(
                        deployment_id=self.id, model_version=new.version, baseline=baseline, created_at=now
                    )
                )
            session.add(
                ModelHistoryRow(
                    deployment_id=self.id,
                    old_model_version=old_version,
                    new_model_version=new.version,
                    reason=reason_value,
                    actor=actor or default_actor(),
                    details={"model_id": new.id, **(details or {})},
                    created_at=now,
                )
            )
            # The old model's drift verdict says nothing about the new one.
            session.add(
                HealthRow(
                    deployment_id=self.id,
                    kind="drift",
                    status=HEALTH_STATUS.UNKNOWN.value,
                    message=f"unknown: model replaced by {new.id} ({reason_value}); not monitored yet",
                    window_start=now,
                    window_end=now,
                    details={"model_version": new.version},
                    evaluated_at=now,
                )
            )
            record_audit(
                session, self.id, "replace", actor, before, {**audit_snapshot(row), "reason": reason_value}
            )
        mirror_deployment_alias(new, self.id)
        self._refresh()
        try:
            self.refresh_model_card()
        except Exception:  # the switch is done; a stale card is made again when next read
            log.warning("the model card of deployment %s could not be refreshed", self.id, exc_info=True)

    def get_model_history(self) -> builtins.list[dict[str, Any]]:
        """Every model this deployment has served, oldest first, with the reason for each change."""
        with session_scope(self.store_url) as session:
            rows = list(
                session.scalars(
                    select(ModelHistoryRow)
                    .where(ModelHistoryRow.deployment_id == self.id)
                    .order_by(ModelHistoryRow.id)
                )
            )
        return [
            {
                "old_model_version": r.old_model_version,
                "new_model_version": r.new_model_version,
                "reason": r.reason,
                "actor": r.actor,
                "timestamp": r.created_at.isoformat(),
                "details": r.details,
            }
            for r in rows
        ]

    def get_baseline(self, model_version: str | None = None) -> dict[str, Any] | None:
        """The monitoring baseline fixed when ``model_version`` (default: current) was deployed."""
        version = model_version or self.model["version"]
        with session_scope(self.store_url) as session:
            row = session.get(BaselineRow, (self.id, version))
        return None if row is None else dict(row.baseline)
