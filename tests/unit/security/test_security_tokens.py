"""API tokens: create, verify, revoke, expire; only SHA-256 digests stored; the ``airflow-mlops token`` CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text, update

from airflow_mlops.config import get_settings
from airflow_mlops.security import AuthError, Principal, create_token, list_tokens, revoke_token, verify_token
from airflow_mlops.store import dispose_engines, session_scope
from airflow_mlops.store.tables import ApiTokenRow

CLI = Path(sys.executable).with_name("airflow-mlops")
TOKEN = re.compile(r"^mlops_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@pytest.fixture
def store(mlops_home: Path) -> str:
    return get_settings().store_url


def _expire(store: str, token_id: str) -> None:
    """Move a token's expiry into the past, in the store (as time passing would)."""
    with session_scope(store) as session:
        session.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == token_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_create_and_verify(store: str) -> None:
    before = datetime.now(UTC)
    info, secret = create_token(store, user="  alice ", description="laptop")
    match = TOKEN.match(secret)
    assert match, secret
    assert match.group(1) == info.id
    assert (info.user, info.is_admin, info.description, info.revoked_at) == ("alice", False, "laptop", None)
    assert info.active
    assert info.expires_at is not None
    assert timedelta(days=89) < info.expires_at - before <= timedelta(days=90, seconds=5)
    assert verify_token(store, secret) == Principal(name="alice", is_admin=False, via="token")

    admin_info, admin_secret = create_token(store, user="root", is_admin=True, expires_in=None)
    assert admin_info.expires_at is None and admin_info.active
    assert verify_token(store, admin_secret) == Principal(name="root", is_admin=True, via="token")
    assert admin_info.id != info.id and admin_secret != secret


def test_only_the_sha256_of_a_secret_is_stored(store: str, mlops_home: Path) -> None:
    info, secret = create_token(store, user="alice")
    with session_scope(store) as session:
        (row,) = session.execute(text("SELECT * FROM api_tokens")).mappings().all()
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    random_part = TOKEN.match(secret).group(2)  # type: ignore[union-attr]
    for value in row.values():
        assert random_part not in str(value)
    assert info.id == row["id"]
    dispose_engines()  # let SQLite check the WAL into the database file
    for path in mlops_home.glob("mlops.db*"):
        assert random_part.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("", "not an airflow-mlops API token"),
        ("Bearer abc", "not an airflow-mlops API token"),
        ("mlops_000000000000_" + "A" * 43, "the token is not known"),
    ],
)
def test_verify_refuses_unknown_tokens(store: str, token: str, says: str) -> None:
    create_token(store, user="alice")
    with pytest.raises(AuthError, match=says):
        verify_token(store, token)


def test_a_tampered_secret_is_unknown(store: str) -> None:
    _info, secret = create_token(store, user="alice")
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(AuthError, match="the token is not known"):
        verify_token(store, tampered)
    with pytest.raises(AuthError):
        verify_token(store, secret + "x")


def test_revoke(store: str) -> None:
    info, secret = create_token(store, user="alice")
    _other_info, other = create_token(store, user="alice")
    revoked = revoke_token(store, info.id)
    assert revoked.revoked_at is not None and not revoked.active
    with pytest.raises(AuthError, match=f"token {info.id} was revoked at"):
        verify_token(store, secret)
    assert verify_token(store, other).name == "alice"  # only that token
    again = revoke_token(store, info.id)
    assert again.revoked_at == revoked.revoked_at  # the first revocation time is kept
    with pytest.raises(LookupError, match="no token with id 'nope'"):
        revoke_token(store, "nope")


def test_expiry(store: str) -> None:
    info, secret = create_token(store, user="alice", expires_in=timedelta(days=1))
    assert verify_token(store, secret).name == "alice"
    _expire(store, info.id)
    with pytest.raises(AuthError, match=f"token {info.id} expired at"):
        verify_token(store, secret)
    assert not list_tokens(store, user="alice")[0].active

    _short, short = create_token(store, user="bob", expires_in=timedelta(milliseconds=50))
    assert verify_token(store, short).name == "bob"
    time.sleep(0.1)
    with pytest.raises(AuthError, match="expired at"):
        verify_token(store, short)

    for bad in (timedelta(0), timedelta(seconds=-5)):
        with pytest.raises(ValueError, match="expected a positive duration or None"):
            create_token(store, user="alice", expires_in=bad)


@pytest.mark.parametrize(
    "user", ["", "   ", "bob smith", "tab\there", "new\nline", "nul\x00", "bell\x07", "x" * 257]
)
def test_bad_user_names_are_refused(store: str, user: str) -> None:
    with pytest.raises(ValueError, match="expected a non-empty name without spaces or control characters"):
        create_token(store, user=user)
    assert list_tokens(store) == []


def test_list_tokens(store: str) -> None:
    a, _ = create_token(store, user="alice")
    b, _ = create_token(store, user="bob", is_admin=True)
    c, _ = create_token(store, user="alice")
    revoke_token(store, c.id)
    assert [t.id for t in list_tokens(store)] == [a.id, b.id, c.id]
    assert [(t.id, t.active) for t in list_tokens(store, user="alice")] == [(a.id, True), (c.id, False)]
    assert list_tokens(store, user="nobody") == []


# ---- the CLI ------------------------------------------------------------------------------------------


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW_", "MLOPS_"))}
    env["MLOPS_HOME"] = str(home)
    return subprocess.run(
        [str(CLI), "token", *args],
        env=env,
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _authenticates(store: str, token: str) -> int:
    """The status of an authenticated request to the app with this token (in-process ASGI)."""
    from airflow_mlops.serving.app import create_app

    app = create_app(dataclasses.replace(get_settings(), store_url=store))

    async def call() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mlops") as client:
            response = await client.get("/api/v2/deployments/", headers={"Authorization": f"Bearer {token}"})
            return response.status_code

    return asyncio.run(call())


def test_cli_create_list_revoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = f"sqlite:///{home / 'mlops.db'}"
    before = datetime.now(UTC)

    created = _cli(home, "create", "--user", "x", "--expires-in", "1h", "--description", "ci")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n"  # only the token on stdout, for `$(…)`
    match = TOKEN.match(token)
    assert match, created.stdout
    token_id = match.group(1)
    assert f"# token {token_id} for x, expires " in created.stderr
    assert verify_token(store, token) == Principal("x", False, "token")
    (info,) = list_tokens(store)
    assert info.expires_at is not None
    assert timedelta(minutes=59) < info.expires_at - before < timedelta(minutes=61)
    assert _authenticates(store, token) == 200

    listed = _cli(home, "list")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.startswith(f"{token_id}  x ") and " active " in line
    assert match.group(2) not in listed.stdout and token not in listed.stdout

    revoked = _cli(home, "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked token {token_id} of x"
    with pytest.raises(AuthError, match="was revoked"):
        verify_token(store, token)
    assert _authenticates(store, token) == 401
    assert " revoked " in _cli(home, "list").stdout

    admin = _cli(home, "create", "--user", "ops", "--admin", "--expires-in", "never")
    assert admin.returncode == 0, admin.stderr
    assert "for ops (admin), expires never" in admin.stderr
    assert verify_token(store, admin.stdout.strip()).is_admin
    only_ops = _cli(home, "list", "--user", "ops").stdout.splitlines()
    assert len(only_ops) == 1 and " admin " in only_ops[0] and "expires never" in only_ops[0]
    dispose_engines()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("create", "--user", "x", "--expires-in", "0h"), "--expires-in='0h' is not valid"),
        (("create", "--user", "x", "--expires-in", "soon"), "expected e.g. 90m, 12h, 30d or 'never'"),
        (("create", "--user", "a b"), "user='a b' is not valid"),
        (("revoke", "abcdef012345"), "no token with id 'abcdef012345'"),
    ],
)
def test_cli_errors(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    done = _cli(tmp_path / "home", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert says in done.stderr
