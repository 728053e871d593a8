"""Deployments: a label, a current model version, settings, health and a model history.

The shape follows DataRobot's ``datarobot.Deployment`` (``create_from_…``,
``list``, ``get``, ``replace_model(model_id, reason)``,
``validate_replacement_model`` returning ``(status, message, checks)``) so its
users feel at home. The MLOps store is the source of truth for which model a
deployment serves; the MLflow alias ``deployment-<id>`` mirrors it for people
browsing the registry.
"""

from __future__ import annotations

import builtins
import getpass
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow.tracking import MlflowClient
from sqlalchemy import select

from airflow_mlops.config import get_settings
from airflow_mlops.deployments.model_ref import ModelRef
from airflow_mlops.enums import (
    DEPLOYMENT_IMPORTANCE,
    DEPLOYMENT_STATUS,
    HEALTH_STATUS,
    MODEL_REPLACEMENT_REASON,
    parse_enum,
)
from airflow_mlops.store import BaselineRow, DeploymentRow, HealthRow, ModelHistoryRow, session_scope

log = logging.getLogger(__name__)

TARGET_TYPES = {"binary": "Binary", "multiclass": "Multiclass", "regression": "Regression"}

DEFAULT_SETTINGS: dict[str, Any] = {
    "drift_tracking": {"target_drift": {"enabled": True}, "feature_drift": {"enabled": True}},
    "predictions_data_collection": {"enabled": True},
}


class DeploymentNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ModelVersionInfo:
    """What the registry knows about a model version that a deployment needs."""

    ref: ModelRef
    target: str
    task: str
    features: list[str]
    family: str
    run_id: str | None

    @property
    def target_type(self) -> str:
        return TARGET_TYPES.get(self.task, self.task)


def model_version_info(model_id: str, *, tracking_uri: str | None = None) -> ModelVersionInfo:
    """Read a registered model version's target, task and features from its MLflow tags."""
    ref = ModelRef.parse(model_id)
    settings = get_settings()
    client = MlflowClient(
        tracking_uri=tracking_uri or settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
    )
    try:
        mv = client.get_model_version(ref.name, ref.version)
    except Exception as exc:  # MlflowException for an unknown name or version
        raise LookupError(f"model {ref.id!r} is not in the MLflow registry: {exc}") from exc
    tags = dict(mv.tags or {})
    missing = [key for key in ("target", "task", "features") if key not in tags]
    if missing:
        raise ValueError(
            f"model {ref.id!r} lacks the registry tags {missing}; register it with "
            "airflow_mlops.registry.register_model so the deployment knows its target and features"
        )
    return ModelVersionInfo(
        ref=ref,
        target=tags["target"],
        task=tags["task"],
        features=list(json.loads(tags["features"])),
        family=tags.get("family", "unknown"),
        run_id=mv.run_id,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _health(row: HealthRow | None, unknown_message: str) -> dict[str, Any]:
    if row is None:
        return {
            "status": HEALTH_STATUS.UNKNOWN.value,
            "message": unknown_message,
            "start_date": None,
            "end_date": None,
        }
    return {
        "status": row.status,
        "message": row.message,
        "start_date": row.window_start.isoformat(),
        "end_date": row.window_end.isoformat(),
    }


@dataclass
class Deployment:
    """A deployed model: ask it for its model, health and history, or replace its model."""

    id: str
    label: str
    description: str | None
    status: str
    importance: str | None
    model: dict[str, Any]
    settings: dict[str, Any]
    service_health: dict[str, Any]
    model_health: dict[str, Any]
    accuracy_health: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    store_url: str = field(repr=False)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def _from_row(cls, row: DeploymentRow, store_url: str) -> Deployment:
        with session_scope(store_url) as session:
            latest: dict[str, HealthRow | None] = {}
            for kind in ("service", "drift", "accuracy"):
                latest[kind] = session.scalars(
                    select(HealthRow)
                    .where(HealthRow.deployment_id == row.id, HealthRow.kind == kind)
                    .order_by(HealthRow.id.desc())
                    .limit(1)
                ).first()
        ref = ModelRef(row.registered_model_name, row.model_version)
        return cls(
            id=row.id,
            label=row.label,
            description=row.description,
            status=row.status,
            importance=row.importance,
            model={
                "id": ref.id,
                "uri": ref.uri,
                "registered_model_name": row.registered_model_name,
                "version": row.model_version,
                "target_name": row.target_name,
                "target_type": row.target_type,
            },
            settings=dict(row.settings or {}),
            service_health=_health(latest["service"], "no monitoring run yet"),
            model_health=_health(latest["drift"], "no drift computed yet"),
            accuracy_health=_health(latest["accuracy"], "no actuals yet"),
            created_at=row.created_at,
            updated_at=row.updated_at,
            store_url=store_url,
        )

    @classmethod
    def create_from_registered_model_version(
        cls,
        model_id: str,
        label: str,
        *,
        description: str | None = None,
        importance: str | None = None,
        baseline: dict[str, Any] | None = None,
        actor: str | None = None,
        store_url: str | None = None,
    ) -> Deployment:
        """Deploy a registered MLflow model version (``'<name>/<version>'``)."""
        if not label or not label.strip():
            raise ValueError("label must be a non-empty string")
        if importance is not None:
            importance = parse_enum(DEPLOYMENT_IMPORTANCE, importance, field="importance").value
        url = store_url or get_settings().store_url
        info = model_version_info(model_id)
        now = _now()
        row = DeploymentRow(
            id=uuid.uuid4().hex[:24],
            label=label.strip(),
            description=description,
            status=DEPLOYMENT_STATUS.ACTIVE.value,
            importance=importance,
            registered_model_name=info.ref.name,
            model_version=info.ref.version,
            target_name=info.target,
            target_type=info.target_type,
            settings=json.loads(json.dumps(DEFAULT_SETTINGS)),
            created_at=now,
            updated_at=now,
        )
        with session_scope(url) as session:
            session.add(row)
            session.flush()
            session.add(
                ModelHistoryRow(
                    deployment_id=row.id,
                    old_model_version=None,
                    new_model_version=info.ref.version,
                    reason="INITIAL",
                    actor=actor or _default_actor(),
                    details={"model_id": info.ref.id},
                    created_at=now,
                )
            )
            if baseline is not None:
                session.add(
                    BaselineRow(
                        deployment_id=row.id,
                        model_version=info.ref.version,
                        baseline=baseline,
                        created_at=now,
                    )
                )
        _set_alias(info.ref, row.id)
        return cls.get(row.id, store_url=url)

    @classmethod
    def get(cls, deployment_id: str, *, store_url: str | None = None) -> Deployment:
        url = store_url or get_settings().store_url
        with session_scope(url) as session:
            row = session.get(DeploymentRow, deployment_id)
        if row is None:
            raise DeploymentNotFound(f"no deployment with id {deployment_id!r}")
        return cls._from_row(row, url)

    @classmethod
    def list(
        cls, *, search: str | None = None, status: str | None = None, store_url: str | None = None
    ) -> list[Deployment]:
        """Deployments ordered by label; ``search`` matches the label case-insensitively."""
        url = store_url or get_settings().store_url
        query = select(DeploymentRow).order_by(DeploymentRow.label, DeploymentRow.created_at)
        if search:
            # Literal text, not a LIKE pattern: "churn_v2" must not match "churn-v2".
            literal = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(DeploymentRow.label.ilike(f"%{literal}%", escape="\\"))
        if status is not None:
            query = query.where(DeploymentRow.status == parse_enum(DEPLOYMENT_STATUS, status, field="status"))
        with session_scope(url) as session:
            rows = list(session.scalars(query))
        return [cls._from_row(row, url) for row in rows]

    # ---- replacement ------------------------------------------------------------------
    def validate_replacement_model(self, new_model_id: str) -> tuple[str, str, dict[str, dict[str, str]]]:
        """Check that a model can take this deployment's place: DataRobot's ``(status, message, checks)``."""
        checks: dict[str, dict[str, str]] = {}
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
        failing = [name for name, c in checks.items() if c["status"] == "failing"]
        if failing:
            return (
                "failing",
                f"Model {new.ref.id} cannot replace {current.ref.id}: {', '.join(failing)} failed",
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
    ) -> None:
        """Switch predictions to another model version and record why.

        One store transaction moves the model, stores the new baseline and appends
        the history row, so a crash leaves either the old state or the new one.
        The prediction server notices the change and swaps models without a restart.
        """
        reason_value = parse_enum(MODEL_REPLACEMENT_REASON, reason, field="reason").value
        status, message, _checks = self.validate_replacement_model(new_model_id)
        if status == "failing":
            raise ValueError(message)
        new = ModelRef.parse(new_model_id)
        now = _now()
        with session_scope(self.store_url) as session:
            row = session.get(DeploymentRow, self.id, with_for_update=True)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {self.id!r}")
            old_version = row.model_version
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
                    actor=actor or _default_actor(),
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
        _set_alias(new, self.id)
        fresh = Deployment.get(self.id, store_url=self.store_url)
        self.__dict__.update(fresh.__dict__)

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


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "airflow-mlops"


def _set_alias(ref: ModelRef, deployment_id: str) -> None:
    """Mirror the deployment's model in MLflow; the store stays authoritative if this fails."""
    settings = get_settings()
    try:
        client = MlflowClient(
            tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
        )
        client.set_registered_model_alias(ref.name, f"deployment-{deployment_id}", ref.version)
    except Exception as exc:  # the registry being down must not undo a committed replacement
        log.warning("could not set MLflow alias for deployment %s on %s: %s", deployment_id, ref.id, exc)
