"""Deployment roles and what each may do.

| action | CONSUMER | USER | OWNER |
| --- | --- | --- | --- |
| predict | yes | yes | yes |
| read (get, list, settings, history, validation) | no | yes | yes |
| update, settings, replace, delete, share | no | no | yes |

Administrators (an admin token, or an Airflow admin) act as OWNER everywhere.
"""

from __future__ import annotations

from sqlalchemy import select

from airflow_mlops.enums import DEPLOYMENT_ROLE
from airflow_mlops.security.principal import Principal
from airflow_mlops.store import session_scope
from airflow_mlops.store.tables import DeploymentRoleRow

_RANK = {DEPLOYMENT_ROLE.CONSUMER: 1, DEPLOYMENT_ROLE.USER: 2, DEPLOYMENT_ROLE.OWNER: 3}

#: The least role each action needs.
ACTIONS: dict[str, DEPLOYMENT_ROLE] = {
    "predict": DEPLOYMENT_ROLE.CONSUMER,
    "read": DEPLOYMENT_ROLE.USER,
    "update": DEPLOYMENT_ROLE.OWNER,
    "settings": DEPLOYMENT_ROLE.OWNER,
    "replace": DEPLOYMENT_ROLE.OWNER,
    "delete": DEPLOYMENT_ROLE.OWNER,
    "share": DEPLOYMENT_ROLE.OWNER,
}


def role_of(store_url: str, deployment_id: str, principal: Principal) -> DEPLOYMENT_ROLE | None:
    if "\x00" in deployment_id:  # no id holds NUL, and PostgreSQL would refuse to look it up
        return None
    if principal.is_admin:
        return DEPLOYMENT_ROLE.OWNER
    with session_scope(store_url) as session:
        row = session.get(DeploymentRoleRow, (deployment_id, principal.name))
    return None if row is None else DEPLOYMENT_ROLE(row.role)


def roles_of(store_url: str, principal: Principal) -> dict[str, DEPLOYMENT_ROLE]:
    """Every deployment the principal has a role on (admins: use a list without a role filter)."""
    with session_scope(store_url) as session:
        rows = session.scalars(select(DeploymentRoleRow).where(DeploymentRoleRow.user == principal.name))
        return {r.deployment_id: DEPLOYMENT_ROLE(r.role) for r in rows}


def allowed(role: DEPLOYMENT_ROLE | None, action: str) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"action={action!r} is not valid; expected one of {', '.join(ACTIONS)}")
    return role is not None and _RANK[role] >= _RANK[ACTIONS[action]]


def permissions(role: DEPLOYMENT_ROLE | None) -> list[str]:
    """Every action ``role`` allows, in the table's order (what a page may offer the caller)."""
    return [action for action in ACTIONS if allowed(role, action)]
