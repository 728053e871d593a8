"""API tokens: random secrets shown once, stored as SHA-256, revocable, with an expiry.

A token looks like ``mlops_<id>_<secret>``; the id lets a person name a token to
revoke it without ever seeing the secret again. Hashing with SHA-256 (not a slow
password hash) is right here because the secret is 32 random bytes, not a
human-chosen password, and every request must verify one quickly.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from airflow_mlops.security.principal import AuthError, Principal
from airflow_mlops.store import bump_auth_epoch, session_scope
from airflow_mlops.store.tables import ApiTokenRow

PREFIX = "mlops_"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    is_admin: bool
    description: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        now = datetime.now(UTC)
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_user(user: str) -> str:
    name = (user or "").strip()
    if not name or len(name) > 256 or any(c.isspace() or not c.isprintable() for c in name):
        raise ValueError(
            f"user={user!r} is not valid; expected a non-empty name without spaces or control characters"
        )
    return name


def create_token(
    store_url: str,
    *,
    user: str,
    expires_in: timedelta | None = timedelta(days=90),
    is_admin: bool = False,
    description: str | None = None,
) -> tuple[TokenInfo, str]:
    """A new token for ``user``; returns its record and the secret (shown only now)."""
    name = _check_user(user)
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError(f"expires_in={expires_in!r} is not valid; expected a positive duration or None")
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    row = ApiTokenRow(
        id=token_id,
        user=name,
        token_hash=_hash(token),
        is_admin=is_admin,
        description=description,
        created_at=now,
        expires_at=None if expires_in is None else now + expires_in,
        revoked_at=None,
    )
    with session_scope(store_url) as session:
        session.add(row)
    return _info(row), token


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        user=row.user,
        is_admin=row.is_admin,
        description=row.description,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


@dataclass(frozen=True)
class VerifiedToken:
    """A token the store vouched for: who it stands for and until when (what a worker may cache)."""

    token_id: str
    principal: Principal
    expires_at: datetime | None

    def principal_now(self) -> Principal:
        """The principal, or :class:`AuthError` once the token has expired (checked on every use)."""
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            raise AuthError(f"token {self.token_id} expired at {self.expires_at.isoformat()}")
        return self.principal


def verify_token(store_url: str, token: str) -> Principal:
    """The principal a token stands for, or :class:`AuthError` saying why not."""
    return check_token(store_url, token).principal_now()


def check_token(store_url: str, token: str) -> VerifiedToken:
    """Look the token up in the store: known and not revoked, or :class:`AuthError` saying why not."""
    if not token or not token.startswith(PREFIX):
        raise AuthError("the token is not an airflow-mlops API token (expected 'mlops_…')")
    with session_scope(store_url) as session:
        row = session.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == _hash(token))).first()
    if row is None:
        raise AuthError("the token is not known")
    if row.revoked_at is not None:
        raise AuthError(f"token {row.id} was revoked at {row.revoked_at.isoformat()}")
    verified = VerifiedToken(
        token_id=row.id,
        principal=Principal(name=row.user, is_admin=row.is_admin, via="token"),
        expires_at=row.expires_at,
    )
    verified.principal_now()
    return verified


def revoke_token(store_url: str, token_id: str) -> TokenInfo:
    with session_scope(store_url) as session:
        row = session.get(ApiTokenRow, token_id)
        if row is None:
            raise LookupError(f"no token with id {token_id!r}")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            bump_auth_epoch(session)  # every server's cached copy of this token goes within a second
        return _info(row)


def list_tokens(store_url: str, *, user: str | None = None) -> list[TokenInfo]:
    query = select(ApiTokenRow).order_by(ApiTokenRow.created_at)
    if user is not None:
        query = query.where(ApiTokenRow.user == user)
    with session_scope(store_url) as session:
        return [_info(r) for r in session.scalars(query)]
