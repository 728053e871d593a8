"""Who is calling, and what they may do: API tokens, deployment roles, permissions."""

from __future__ import annotations

from airflow_mlops.security.auth_cache import FRESH_S, AuthCache
from airflow_mlops.security.principal import AuthError, PermissionDenied, Principal
from airflow_mlops.security.roles import ACTIONS, allowed, permissions, role_of, roles_of
from airflow_mlops.security.tokens import (
    TokenInfo,
    VerifiedToken,
    check_token,
    create_token,
    list_tokens,
    revoke_token,
    verify_token,
)

__all__ = [
    "ACTIONS",
    "FRESH_S",
    "AuthCache",
    "AuthError",
    "PermissionDenied",
    "Principal",
    "TokenInfo",
    "VerifiedToken",
    "allowed",
    "check_token",
    "create_token",
    "list_tokens",
    "permissions",
    "revoke_token",
    "role_of",
    "roles_of",
    "verify_token",
]
