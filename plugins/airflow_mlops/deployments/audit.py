"""The audit log: who changed what, recorded in the same transaction as the change itself."""

from __future__ import annotations

import builtins
import getpass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from airflow_mlops.config import get_settings
from airflow_mlops.deployments.settings import with_defaults
from airflow_mlops.store import DeploymentRow, session_scope
from airflow_mlops.store.tables import AuditRow


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "airflow-mlops"


def audit_snapshot(row: DeploymentRow) -> dict[str, Any]:
    """What an audit record keeps of a deployment before and after a change."""
    return {
        "label": row.label,
        "description": row.description,
        "status": row.status,
        "importance": row.importance,
        "model_id": f"{row.registered_model_name}/{row.model_version}",
        "settings": with_defaults(row.settings),
    }


def record_audit(
    session: Any, deployment_id: str, action: str, actor: str | None, before: Any, after: Any
) -> None:
    """Append to the audit log inside the caller's transaction: the change and its record land together."""
    session.add(
        AuditRow(
            deployment_id=deployment_id,
            action=action,
            actor=actor or default_actor(),
            at=utc_now(),
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
