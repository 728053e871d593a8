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
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import false, select

from airflow_mlops.config import get_settings
from airflow_mlops.deployments.audit import audit_log, audit_snapshot, default_actor, record_audit, utc_now
from airflow_mlops.deployments.listing import (
    HEALTH_RANK,
    IMPORTANCE_RANK,
    ORDER_FIELDS,
    USAGE_ORDERS,
    DeploymentListFilters,
    registered_model_name_for,
)
from airflow_mlops.deployments.model_card import ModelCards
from airflow_mlops.deployments.monitoring_shortcuts import MonitoringShortcuts
from airflow_mlops.deployments.replacement import ModelReplacement
from airflow_mlops.deployments.settings import (
    default_settings,
    with_defaults,
)
from airflow_mlops.deployments.settings_shortcuts import SettingsShortcuts
from airflow_mlops.enums import (
    DEPLOYMENT_IMPORTANCE,
    DEPLOYMENT_ROLE,
    DEPLOYMENT_STATUS,
    HEALTH_STATUS,
    parse_enum,
)
from airflow_mlops.errors import DeploymentNotFound
from airflow_mlops.registry import (
    ModelRef,
    drop_deployment_alias,
    mirror_deployment_alias,
    model_version_info,
)
from airflow_mlops.security import Principal, roles_of
from airflow_mlops.store import (
    BaselineRow,
    DeploymentRow,
    HealthRow,
    ModelHistoryRow,
    bump_auth_epoch,
    session_scope,
)
from airflow_mlops.store.tables import DeploymentRoleRow
from airflow_mlops.training import register_learning_model

log = logging.getLogger(__name__)


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
class Deployment(SettingsShortcuts, ModelReplacement, MonitoringShortcuts, ModelCards):
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
    #: DataRobot's ``fairnessHealth``: the latest fairness verdict of a monitoring pass.
    fairness_health: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    store_url: str = field(repr=False)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def _from_row(cls, row: DeploymentRow, store_url: str) -> Deployment:
        with session_scope(store_url) as session:
            latest: dict[str, HealthRow | None] = {}
            for kind in ("service", "drift", "accuracy", "fairness"):
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
            settings=with_defaults(row.settings),
            service_health=_health(latest["service"], "no monitoring run yet"),
            model_health=_health(latest["drift"], "no drift computed yet"),
            accuracy_health=_health(latest["accuracy"], "no actuals yet"),
            fairness_health=_health(latest["fairness"], "no fairness computed yet"),
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
        owners: builtins.list[str] | None = None,
        store_url: str | None = None,
    ) -> Deployment:
        """Deploy a registered MLflow model version (``'<name>/<version>'``).

        ``owners`` get the OWNER role (the REST API passes the caller); a deployment
        with no owner is managed by administrators and trusted Python callers.
        """
        if not label or not label.strip():
            raise ValueError("label must be a non-empty string")
        if importance is not None:
            importance = parse_enum(DEPLOYMENT_IMPORTANCE, importance, field="importance").value
        url = store_url or get_settings().store_url
        info = model_version_info(model_id)
        now = utc_now()
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
            settings=default_settings(),
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
                    actor=actor or default_actor(),
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
            for owner in owners or []:
                session.add(
                    DeploymentRoleRow(deployment_id=row.id, user=owner, role=DEPLOYMENT_ROLE.OWNER.value)
                )
            if owners:
                bump_auth_epoch(session)
            record_audit(session, row.id, "create", actor, None, audit_snapshot(row))
        mirror_deployment_alias(info.ref, row.id)
        return cls.get(row.id, store_url=url)

    @classmethod
    def create_from_learning_model(
        cls,
        model_id: str,
        label: str,
        *,
        registered_model_name: str | None = None,
        description: str | None = None,
        importance: str | None = None,
        actor: str | None = None,
        owners: builtins.list[str] | None = None,
        store_url: str | None = None,
    ) -> Deployment:
        """Deploy a sweep's leaderboard model: ``model_id`` is its trial's MLflow run id.

        The model is refit on its sweep's snapshot, registered as a new version of
        ``registered_model_name`` and deployed with a baseline from that snapshot
        (holdout metrics and prediction-warning boundaries included), by the same
        :func:`~airflow_mlops.training.refit_and_register` the training DAG uses.
        Without ``registered_model_name`` (DataRobot's call has none) the name is
        derived from ``label`` by :func:`~airflow_mlops.deployments.listing.registered_model_name_for`.
        """
        if not label or not label.strip():
            raise ValueError("label must be a non-empty string")
        registered_model_name = registered_model_name or registered_model_name_for(label)
        settings = get_settings()
        refit = register_learning_model(
            model_id, registered_model_name=registered_model_name, settings=settings
        )
        return cls.create_from_registered_model_version(
            refit.model_id,
            label,
            description=description,
            importance=importance,
            baseline=refit.baseline,
            actor=actor,
            owners=owners,
            store_url=store_url,
        )

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
        cls,
        *,
        search: str | None = None,
        order_by: str | None = None,
        filters: DeploymentListFilters | None = None,
        status: str | None = None,
        principal: Principal | None = None,
        store_url: str | None = None,
    ) -> builtins.list[Deployment]:
        """Deployments, DataRobot-style: ``search`` in the label, ``order_by`` one of
        :data:`ORDER_FIELDS` (``-`` for descending), ``filters`` on role, health and importance.

        With a ``principal`` only deployments it holds a role on are listed (all for an
        administrator); without one the caller is trusted (DAG tasks, scripts).
        """
        url = store_url or get_settings().store_url
        filters = filters or DeploymentListFilters()
        descending, key = (order_by or "label").startswith("-"), (order_by or "label").lstrip("-")
        if key not in ORDER_FIELDS:
            raise ValueError(
                f"order_by={order_by!r} is not valid; expected one of {list(ORDER_FIELDS)}, optionally with '-'"
            )
        query = select(DeploymentRow).order_by(DeploymentRow.label, DeploymentRow.created_at)
        if search:
            # Literal text, not a LIKE pattern: "churn_v2" must not match "churn-v2".
            literal = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(DeploymentRow.label.ilike(f"%{literal}%", escape="\\"))
        if status is not None:
            query = query.where(DeploymentRow.status == parse_enum(DEPLOYMENT_STATUS, status, field="status"))
        if filters.importance:
            query = query.where(DeploymentRow.importance.in_(filters.importance))
        roles: dict[str, DEPLOYMENT_ROLE] | None = None
        if principal is not None and not principal.is_admin:
            roles = roles_of(url, principal)
            query = query.where(DeploymentRow.id.in_(list(roles)))
        if filters.role:
            if principal is None:
                raise ValueError("filters.role needs a principal: whose role should it match?")
            wanted = {parse_enum(DEPLOYMENT_ROLE, r, field="filters.role").value for r in filters.role}
            if principal.is_admin:  # an administrator is OWNER of everything
                if DEPLOYMENT_ROLE.OWNER.value not in wanted:
                    query = query.where(false())
            else:
                query = query.where(
                    DeploymentRow.id.in_([d for d, r in (roles or {}).items() if r.value in wanted])
                )
        with session_scope(url) as session:
            rows = builtins.list(session.scalars(query))
        items = [cls._from_row(row, url) for row in rows]
        for name, wanted_health in (
            ("service_health", filters.service_health),
            ("model_health", filters.model_health),
            ("accuracy_health", filters.accuracy_health),
        ):
            if wanted_health:
                items = [d for d in items if getattr(d, name)["status"] in wanted_health]
        if key in USAGE_ORDERS:
            from airflow_mlops.monitoring.reads.usage import prediction_usage

            usage = prediction_usage(url, [d.id for d in items])
            never = datetime.min.replace(tzinfo=UTC)
        sort_key = {
            "recentPredictions": lambda d: sum(usage[d.id].daily_rates),
            "lastPredictionTimestamp": lambda d: usage[d.id].last_timestamp or never,
            "label": lambda d: d.label.lower(),
            "createdAt": lambda d: d.created_at,
            "updatedAt": lambda d: d.updated_at,
            "importance": lambda d: IMPORTANCE_RANK.get(d.importance, 0),
            "serviceHealth": lambda d: HEALTH_RANK[d.service_health["status"]],
            "modelHealth": lambda d: HEALTH_RANK[d.model_health["status"]],
            "accuracyHealth": lambda d: HEALTH_RANK[d.accuracy_health["status"]],
        }[key]
        return sorted(items, key=sort_key, reverse=descending)

    # ---- lifecycle ---------------------------------------------------------------------
    def _change(self, action: str, actor: str | None, mutate: Any) -> None:
        """Apply ``mutate(row)`` and its audit record in one transaction, then refresh self."""
        with session_scope(self.store_url, write=True) as session:
            row = session.get(DeploymentRow, self.id, with_for_update=True)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {self.id!r}")
            before = audit_snapshot(row)
            mutate(row)
            row.updated_at = utc_now()
            record_audit(session, self.id, action, actor, before, audit_snapshot(row))
        self._refresh()

    def _refresh(self) -> None:
        fresh = Deployment.get(self.id, store_url=self.store_url)
        self.__dict__.update(fresh.__dict__)

    def update(
        self,
        label: str | None = None,
        description: str | None = None,
        importance: str | None = None,
        *,
        actor: str | None = None,
    ) -> None:
        """Change the label, description or importance (DataRobot's ``Deployment.update``)."""
        if label is not None and not label.strip():
            raise ValueError("label must be a non-empty string")
        if importance is not None:
            importance = parse_enum(DEPLOYMENT_IMPORTANCE, importance, field="importance").value

        def mutate(row: DeploymentRow) -> None:
            if label is not None:
                row.label = label.strip()
            if description is not None:
                row.description = description
            if importance is not None:
                row.importance = importance

        self._change("update", actor, mutate)

    def activate(self, *, actor: str | None = None) -> None:
        self._change("activate", actor, lambda row: setattr(row, "status", DEPLOYMENT_STATUS.ACTIVE.value))

    def deactivate(self, *, actor: str | None = None) -> None:
        """Stop serving predictions (monitoring skips it); the model and history are kept."""
        self._change(
            "deactivate", actor, lambda row: setattr(row, "status", DEPLOYMENT_STATUS.INACTIVE.value)
        )

    def delete(self, *, actor: str | None = None) -> None:
        """Remove the deployment; its audit trail stays."""
        with session_scope(self.store_url, write=True) as session:
            row = session.get(DeploymentRow, self.id, with_for_update=True)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {self.id!r}")
            before = audit_snapshot(row)
            for table in (ModelHistoryRow, BaselineRow, HealthRow, DeploymentRoleRow):
                session.query(table).filter(table.deployment_id == self.id).delete()
            session.delete(row)
            bump_auth_epoch(session)  # roles on it went: cached ones must go too
            record_audit(session, self.id, "delete", actor, before, None)
        drop_deployment_alias(ModelRef(self.model["registered_model_name"], self.model["version"]), self.id)
        self.status = "deleted"

    # ---- sharing -------------------------------------------------------------------------
    def share(self, user: str, role: str, *, actor: str | None = None) -> None:
        """Give ``user`` a role on this deployment (replacing any role they had)."""
        value = parse_enum(DEPLOYMENT_ROLE, role, field="role").value
        if not user or not user.strip():
            raise ValueError("user must be a non-empty name")
        with session_scope(self.store_url, write=True) as session:
            old = session.get(DeploymentRoleRow, (self.id, user))
            before = None if old is None else {"user": user, "role": old.role}
            if old is not None and old.role == DEPLOYMENT_ROLE.OWNER.value and value != old.role:
                _keep_an_owner(session, self.id, user)
            session.merge(DeploymentRoleRow(deployment_id=self.id, user=user, role=value))
            bump_auth_epoch(session)
            record_audit(session, self.id, "share", actor, before, {"user": user, "role": value})

    def unshare(self, user: str, *, actor: str | None = None) -> None:
        with session_scope(self.store_url, write=True) as session:
            old = session.get(DeploymentRoleRow, (self.id, user))
            if old is None:
                raise LookupError(f"{user!r} has no role on deployment {self.id!r}")
            before = {"user": user, "role": old.role}
            if old.role == DEPLOYMENT_ROLE.OWNER.value:
                _keep_an_owner(session, self.id, user)
            session.delete(old)
            bump_auth_epoch(session)
            record_audit(session, self.id, "share", actor, before, None)

    def list_shared_roles(self) -> builtins.list[dict[str, str]]:
        with session_scope(self.store_url) as session:
            rows = session.scalars(
                select(DeploymentRoleRow)
                .where(DeploymentRoleRow.deployment_id == self.id)
                .order_by(DeploymentRoleRow.user)
            )
            return [{"username": r.user, "role": r.role} for r in rows]

    def get_audit_log(self) -> builtins.list[dict[str, Any]]:
        """Every change to this deployment, oldest first: who, when, before and after."""
        return audit_log(self.id, store_url=self.store_url)


def _keep_an_owner(session: Any, deployment_id: str, leaving: str) -> None:
    """Refuse to take the OWNER role from the last owner: nobody could manage the deployment."""
    others = session.scalars(
        select(DeploymentRoleRow.user).where(
            DeploymentRoleRow.deployment_id == deployment_id,
            DeploymentRoleRow.role == DEPLOYMENT_ROLE.OWNER.value,
            DeploymentRoleRow.user != leaving,
        )
    ).first()
    if others is None:
        raise ValueError(
            f"{leaving!r} is the last OWNER of deployment {deployment_id!r}; share OWNER with someone else first"
        )
