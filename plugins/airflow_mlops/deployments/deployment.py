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
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import false, select

from airflow_mlops.config import get_settings
from airflow_mlops.deployments.settings import (
    SettingsError,
    default_settings,
    validate_section,
    with_defaults,
)
from airflow_mlops.enums import (
    DEPLOYMENT_IMPORTANCE,
    DEPLOYMENT_ROLE,
    DEPLOYMENT_STATUS,
    HEALTH_STATUS,
    MODEL_REPLACEMENT_REASON,
    parse_enum,
)
from airflow_mlops.errors import DeploymentNotFound
from airflow_mlops.monitoring.actuals import submit_actuals
from airflow_mlops.monitoring.reads import (
    get_accuracy,
    get_accuracy_over_time,
    get_drift_over_time,
    get_service_stats,
    get_service_stats_over_time,
    get_target_drift,
    list_feature_drift,
    model_version_of,
)
from airflow_mlops.prediction_log import list_log_files
from airflow_mlops.registry import (
    ModelRef,
    drop_deployment_alias,
    feature_types,
    mirror_deployment_alias,
    model_version_info,
)
from airflow_mlops.retraining import list_requests, request_retraining
from airflow_mlops.security import PermissionDenied, Principal, allowed, role_of, roles_of
from airflow_mlops.store import BaselineRow, DeploymentRow, HealthRow, ModelHistoryRow, session_scope
from airflow_mlops.store.tables import AuditRow, DeploymentRoleRow, ServiceBucketRow
from airflow_mlops.training import register_learning_model

log = logging.getLogger(__name__)

#: Health statuses ordered from worst to best, for ``order_by="-serviceHealth"`` and friends.
_HEALTH_RANK = {"failing": 3, "warning": 2, "passing": 1, "unknown": 0, "unavailable": 0}
_IMPORTANCE_RANK = {"CRITICAL": 4, "HIGH": 3, "MODERATE": 2, "LOW": 1, None: 0}
ORDER_FIELDS = (
    "label",
    "createdAt",
    "updatedAt",
    "importance",
    "serviceHealth",
    "modelHealth",
    "accuracyHealth",
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
            settings=with_defaults(row.settings),
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
            for owner in owners or []:
                session.add(
                    DeploymentRoleRow(deployment_id=row.id, user=owner, role=DEPLOYMENT_ROLE.OWNER.value)
                )
            _audit(session, row.id, "create", actor, None, _snapshot(row))
        mirror_deployment_alias(info.ref, row.id)
        return cls.get(row.id, store_url=url)

    @classmethod
    def create_from_learning_model(
        cls,
        model_id: str,
        label: str,
        *,
        registered_model_name: str,
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
        """
        if not label or not label.strip():
            raise ValueError("label must be a non-empty string")
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
        sort_key = {
            "label": lambda d: d.label.lower(),
            "createdAt": lambda d: d.created_at,
            "updatedAt": lambda d: d.updated_at,
            "importance": lambda d: _IMPORTANCE_RANK.get(d.importance, 0),
            "serviceHealth": lambda d: _HEALTH_RANK[d.service_health["status"]],
            "modelHealth": lambda d: _HEALTH_RANK[d.model_health["status"]],
            "accuracyHealth": lambda d: _HEALTH_RANK[d.accuracy_health["status"]],
        }[key]
        return sorted(items, key=sort_key, reverse=descending)

    # ---- lifecycle ---------------------------------------------------------------------
    def _change(self, action: str, actor: str | None, mutate: Any) -> None:
        """Apply ``mutate(row)`` and its audit record in one transaction, then refresh self."""
        with session_scope(self.store_url) as session:
            row = session.get(DeploymentRow, self.id, with_for_update=True)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {self.id!r}")
            before = _snapshot(row)
            mutate(row)
            row.updated_at = _now()
            _audit(session, self.id, action, actor, before, _snapshot(row))
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
        with session_scope(self.store_url) as session:
            row = session.get(DeploymentRow, self.id, with_for_update=True)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {self.id!r}")
            before = _snapshot(row)
            for table in (ModelHistoryRow, BaselineRow, HealthRow, DeploymentRoleRow):
                session.query(table).filter(table.deployment_id == self.id).delete()
            session.delete(row)
            _audit(session, self.id, "delete", actor, before, None)
        drop_deployment_alias(ModelRef(self.model["registered_model_name"], self.model["version"]), self.id)
        self.status = "deleted"

    # ---- sharing -------------------------------------------------------------------------
    def share(self, user: str, role: str, *, actor: str | None = None) -> None:
        """Give ``user`` a role on this deployment (replacing any role they had)."""
        value = parse_enum(DEPLOYMENT_ROLE, role, field="role").value
        if not user or not user.strip():
            raise ValueError("user must be a non-empty name")
        with session_scope(self.store_url) as session:
            old = session.get(DeploymentRoleRow, (self.id, user))
            before = None if old is None else {"user": user, "role": old.role}
            if old is not None and old.role == DEPLOYMENT_ROLE.OWNER.value and value != old.role:
                _keep_an_owner(session, self.id, user)
            session.merge(DeploymentRoleRow(deployment_id=self.id, user=user, role=value))
            _audit(session, self.id, "share", actor, before, {"user": user, "role": value})

    def unshare(self, user: str, *, actor: str | None = None) -> None:
        with session_scope(self.store_url) as session:
            old = session.get(DeploymentRoleRow, (self.id, user))
            if old is None:
                raise LookupError(f"{user!r} has no role on deployment {self.id!r}")
            before = {"user": user, "role": old.role}
            if old.role == DEPLOYMENT_ROLE.OWNER.value:
                _keep_an_owner(session, self.id, user)
            session.delete(old)
            _audit(session, self.id, "share", actor, before, None)

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

    # ---- settings (DataRobot's getters and updaters) ------------------------------------
    def _update_settings(self, section: str, patch: dict[str, Any], actor: str | None) -> dict[str, Any]:
        features = model_version_info(self.model["id"]).features if section == "health" else None

        def mutate(row: DeploymentRow) -> None:
            current = with_defaults(row.settings)
            if (
                section == "association_id"
                and _has_predictions(self.id, self.store_url)
                and (
                    "column_names" in patch
                    and patch["column_names"] != current["association_id"]["column_names"]
                )
            ):
                raise SettingsError(
                    "association_id.column_names cannot change once the deployment has served predictions "
                    f"(it is {current['association_id']['column_names']})"
                )
            current[section] = validate_section(
                section, patch, current, target_type=row.target_type, features=features
            )
            row.settings = current

        self._change(f"settings.{section}", actor, mutate)
        return dict(self.settings[section])

    def get_drift_tracking_settings(self) -> dict[str, Any]:
        return dict(self.settings["drift_tracking"])

    def update_drift_tracking_settings(
        self,
        target_drift_enabled: bool | None = None,
        feature_drift_enabled: bool | None = None,
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        patch: dict[str, Any] = {}
        if target_drift_enabled is not None:
            patch["target_drift"] = {"enabled": target_drift_enabled}
        if feature_drift_enabled is not None:
            patch["feature_drift"] = {"enabled": feature_drift_enabled}
        return self._update_settings("drift_tracking", patch, actor)

    def get_association_id_settings(self) -> dict[str, Any]:
        return dict(self.settings["association_id"])

    def update_association_id_settings(
        self,
        column_names: builtins.list[str] | None = None,
        required_in_prediction_requests: bool | None = None,
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        patch: dict[str, Any] = {}
        if column_names is not None:
            patch["column_names"] = column_names
        if required_in_prediction_requests is not None:
            patch["required_in_prediction_requests"] = required_in_prediction_requests
        return self._update_settings("association_id", patch, actor)

    def get_predictions_data_collection_settings(self) -> dict[str, Any]:
        return dict(self.settings["predictions_data_collection"])

    def update_predictions_data_collection_settings(
        self, enabled: bool, *, actor: str | None = None
    ) -> dict[str, Any]:
        return self._update_settings("predictions_data_collection", {"enabled": enabled}, actor)

    def get_prediction_warning_settings(self) -> dict[str, Any]:
        return dict(self.settings["prediction_warning"])

    def update_prediction_warning_settings(
        self,
        prediction_warning_enabled: bool,
        use_default_boundaries: bool | None = None,
        lower_boundary: float | None = None,
        upper_boundary: float | None = None,
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """DataRobot's signature: default boundaries, or custom ``lower``/``upper`` ones."""
        patch: dict[str, Any] = {"enabled": prediction_warning_enabled}
        if use_default_boundaries:
            patch["custom_boundaries"] = None
        elif lower_boundary is not None or upper_boundary is not None:
            patch["custom_boundaries"] = {"lower": lower_boundary, "upper": upper_boundary}
        return self._update_settings("prediction_warning", patch, actor)

    def get_health_settings(self) -> dict[str, Any]:
        return dict(self.settings["health"])

    def update_health_settings(
        self,
        service: dict[str, Any] | None = None,
        data_drift: dict[str, Any] | None = None,
        accuracy: dict[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> dict[str, Any]:
        patch = {
            k: v
            for k, v in (("service", service), ("data_drift", data_drift), ("accuracy", accuracy))
            if v is not None
        }
        return self._update_settings("health", patch, actor)

    def get_retraining_settings(self) -> dict[str, Any]:
        """The retraining policy (see :mod:`airflow_mlops.retraining.policy`)."""
        return dict(self.settings["retraining"])

    def update_retraining_settings(self, *, actor: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change fields of the retraining policy, e.g. ``cool_down="PT12H", replacement="approval"``."""
        return self._update_settings("retraining", changes, actor)

    def request_retraining(
        self,
        reason: str | MODEL_REPLACEMENT_REASON = "OTHER",
        *,
        note: str | None = None,
        actor: str | None = None,
    ) -> Any:
        """A person asks for a retrain (recorded; ``mlops_retrain`` runs it when triggered with its id)."""

        evidence = {"note": note} if note else {}
        return request_retraining(
            self.id, reason, evidence=evidence, origin="user", actor=actor, store_url=self.store_url
        )

    def get_retraining_requests(self) -> builtins.list[dict[str, Any]]:
        """Every retraining request of this deployment, newest first, with its outcome."""

        return [r.to_dict() for r in list_requests(self.id, store_url=self.store_url)]

    def update_settings(self, patch: dict[str, Any], *, actor: str | None = None) -> dict[str, Any]:
        """Several sections at once (the REST ``PATCH settings/``), all or nothing."""
        unknown = sorted(
            set(patch)
            - {
                "drift_tracking",
                "association_id",
                "predictions_data_collection",
                "prediction_warning",
                "retraining",
            }
        )
        if unknown:
            raise SettingsError(f"unknown settings section(s) {unknown}")

        def mutate(row: DeploymentRow) -> None:
            current = with_defaults(row.settings)
            for section, value in patch.items():
                if (
                    section == "association_id"
                    and "column_names" in value
                    and value["column_names"] != current["association_id"]["column_names"]
                    and _has_predictions(self.id, self.store_url)
                ):
                    raise SettingsError(
                        "association_id.column_names cannot change once the deployment has served predictions"
                    )
                current[section] = validate_section(section, value, current, target_type=row.target_type)
            row.settings = current

        self._change("settings", actor, mutate)
        return self.settings

    # ---- replacement ------------------------------------------------------------------
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
        The prediction server notices the change and swaps models without a restart.
        """
        reason_value = parse_enum(MODEL_REPLACEMENT_REASON, reason, field="reason").value
        status, message, checks = self.validate_replacement_model(new_model_id, principal=principal)
        if checks["permission"]["status"] == "failing":
            raise PermissionDenied(checks["permission"]["message"])
        if status == "failing":
            failing = {k: c["message"] for k, c in checks.items() if c["status"] == "failing"}
            raise ValueError(f"{message}: {failing}")
        actor = actor or (principal.name if principal else None)
        new = ModelRef.parse(new_model_id)
        now = _now()
        with session_scope(self.store_url) as session:
            row = session.get(DeploymentRow, self.id, with_for_update=True)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {self.id!r}")
            old_version = row.model_version
            before = _snapshot(row)
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
            _audit(session, self.id, "replace", actor, before, {**_snapshot(row), "reason": reason_value})
        mirror_deployment_alias(new, self.id)
        self._refresh()

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

    # ---- monitoring reads (DataRobot's names; see airflow_mlops.monitoring.reads) ----------------
    def get_service_stats(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        execution_time_quantile: float = 0.5,
        response_time_quantile: float = 0.5,
    ) -> Any:
        """Every SERVICE_STAT_METRIC over the window (default: the 7 days before the next hour)."""

        return get_service_stats(
            self.id,
            store_url=self.store_url,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
            execution_time_quantile=execution_time_quantile,
            response_time_quantile=response_time_quantile,
        )

    def get_service_stats_over_time(
        self,
        metric: str = "totalPredictions",
        bucket_size: str = "PT1H",
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        quantile: float = 0.5,
    ) -> Any:
        """One service metric per bucket; ``.bucket_values`` maps bucket starts to values."""

        return get_service_stats_over_time(
            self.id,
            store_url=self.store_url,
            metric=metric,
            bucket_size=bucket_size,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
            quantile=quantile,
        )

    def _drift_args(self, model_id: str | None) -> dict[str, Any]:

        return {
            "store_url": self.store_url,
            "version": model_version_of(model_id) or self.model["version"],
            "default_metric": self.settings["health"]["data_drift"].get("metric", "psi"),
        }

    def get_target_drift(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        metric: str | None = None,
    ) -> Any:
        """Drift of the predictions against the baseline's (None score when target drift is off)."""

        return get_target_drift(
            self.id,
            metric=metric,
            start_time=start_time,
            end_time=end_time,
            enabled=self.settings["drift_tracking"]["target_drift"]["enabled"],
            **self._drift_args(model_id),
        )

    def get_feature_drift(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        metric: str | None = None,
    ) -> builtins.list[Any]:
        """Per feature drift with its importance; [] when feature drift tracking is off."""

        return list_feature_drift(
            self.id,
            metric=metric,
            start_time=start_time,
            end_time=end_time,
            enabled=self.settings["drift_tracking"]["feature_drift"]["enabled"],
            **self._drift_args(model_id),
        )

    def get_drift_over_time(
        self,
        feature: str,
        metric: str | None = None,
        bucket_size: str = "P1D",
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """One feature's (or, by the target's name, the predictions') drift per bucket."""

        return get_drift_over_time(
            self.id,
            feature=feature,
            metric=metric,
            bucket_size=bucket_size,
            start_time=start_time,
            end_time=end_time,
            **self._drift_args(model_id),
        )

    def get_accuracy(
        self,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """Every ACCURACY_METRIC of the target type over the window, from joined actuals."""

        return get_accuracy(
            self.id,
            store_url=self.store_url,
            target_type=self.model["target_type"],
            model_id=model_id,
            current_version=self.model["version"],
            start_time=start_time,
            end_time=end_time,
        )

    def get_accuracy_over_time(
        self,
        metric: str | None = None,
        bucket_size: str = "P1D",
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> Any:
        """One accuracy metric per bucket; ``.bucket_values`` maps bucket starts to values."""

        return get_accuracy_over_time(
            self.id,
            store_url=self.store_url,
            target_type=self.model["target_type"],
            metric=metric,
            bucket_size=bucket_size,
            model_id=model_id,
            start_time=start_time,
            end_time=end_time,
        )

    def submit_actuals(self, data: Any, batch_size: int = 10000) -> dict[str, int]:
        """Store actual outcomes (``association_id``, ``actual_value``, optional ``timestamp``, ``was_acted_on``).

        They are joined to predictions by association id on the next monitoring
        pass; the answer counts ids no logged prediction carries yet (kept, joined later).
        """

        return submit_actuals(
            self.id,
            data,
            target_type=self.model["target_type"],
            store_url=self.store_url,
            batch_size=batch_size,
        )

    def get_health_history(self, kind: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Stored health verdicts, newest first (``kind``: service, drift or accuracy)."""
        if kind is not None and kind not in ("service", "drift", "accuracy"):
            raise ValueError(f"kind={kind!r} is not valid; expected one of ['service', 'drift', 'accuracy']")
        query = select(HealthRow).where(HealthRow.deployment_id == self.id)
        if kind is not None:
            query = query.where(HealthRow.kind == kind)
        with session_scope(self.store_url) as session:
            rows = list(session.scalars(query.order_by(HealthRow.id.desc()).limit(limit)))
        return [
            {
                "kind": r.kind,
                "status": r.status,
                "message": r.message,
                "start_date": r.window_start.isoformat(),
                "end_date": r.window_end.isoformat(),
                "evaluated_at": r.evaluated_at.isoformat(),
                "details": r.details,
            }
            for r in rows
        ]

    def get_monitoring_reports(self) -> builtins.list[dict[str, Any]]:
        """The Evidently reports of past monitoring runs (MLflow artifact URIs), newest first."""
        return [
            {"uri": h["details"]["report_uri"], "start_date": h["start_date"], "end_date": h["end_date"]}
            for h in self.get_health_history(kind="drift", limit=1000)
            if h["details"].get("report_uri")
        ]


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "airflow-mlops"


@dataclass
class DeploymentListFilters:
    """DataRobot's list filters; each field is a list of accepted values (empty: any)."""

    role: builtins.list[str] = field(default_factory=builtins.list)
    service_health: builtins.list[str] = field(default_factory=builtins.list)
    model_health: builtins.list[str] = field(default_factory=builtins.list)
    accuracy_health: builtins.list[str] = field(default_factory=builtins.list)
    importance: builtins.list[str] = field(default_factory=builtins.list)

    def __post_init__(self) -> None:
        for name in ("service_health", "model_health", "accuracy_health"):
            setattr(
                self,
                name,
                [parse_enum(HEALTH_STATUS, v, field=f"filters.{name}").value for v in getattr(self, name)],
            )
        self.importance = [
            parse_enum(DEPLOYMENT_IMPORTANCE, v, field="filters.importance").value for v in self.importance
        ]
        self.role = [parse_enum(DEPLOYMENT_ROLE, v, field="filters.role").value for v in self.role]


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


def _snapshot(row: DeploymentRow) -> dict[str, Any]:
    """What an audit record keeps of a deployment before and after a change."""
    return {
        "label": row.label,
        "description": row.description,
        "status": row.status,
        "importance": row.importance,
        "model_id": f"{row.registered_model_name}/{row.model_version}",
        "settings": with_defaults(row.settings),
    }


def _audit(session: Any, deployment_id: str, action: str, actor: str | None, before: Any, after: Any) -> None:
    """Append to the audit log inside the caller's transaction: the change and its record land together."""
    session.add(
        AuditRow(
            deployment_id=deployment_id,
            action=action,
            actor=actor or _default_actor(),
            at=_now(),
            before=before,
            after=after,
        )
    )


def audit_log(deployment_id: str, *, store_url: str | None = None) -> builtins.list[dict[str, Any]]:
    url = store_url or get_settings().store_url
    with session_scope(url) as session:
        rows = session.scalars(
            select(AuditRow).where(AuditRow.deployment_id == deployment_id).order_by(AuditRow.id)
        )
        return [
            {
                "action": r.action,
                "actor": r.actor,
                "timestamp": r.at.isoformat(),
                "before": r.before,
                "after": r.after,
            }
            for r in rows
        ]


def _has_predictions(deployment_id: str, store_url: str) -> bool:
    """Whether the deployment has served predictions (logged, or already folded into buckets)."""

    if list_log_files(get_settings().prediction_log_dir, deployment_id):
        return True
    with session_scope(store_url) as session:
        return (
            session.scalars(
                select(ServiceBucketRow.hour).where(ServiceBucketRow.deployment_id == deployment_id).limit(1)
            ).first()
            is not None
        )
