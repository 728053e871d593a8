"""Authentication for every route: API tokens, plus whatever the host adds (an Airflow login).

An authenticator looks at a request and returns the :class:`Principal` it
proves, ``None`` when the request carries no credential it understands, or
raises :class:`AuthError` when it carries one that is wrong (revoked, expired,
unknown). The first authenticator that answers wins; no answer at all is 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from airflow_mlops.deployments import Deployment
from airflow_mlops.enums import DEPLOYMENT_ROLE
from airflow_mlops.security import AuthError, PermissionDenied, Principal, allowed, role_of, verify_token
from airflow_mlops.security.tokens import PREFIX

Authenticator = Callable[[Request], Awaitable[Principal | None]]


def bearer_token(request: Request) -> str | None:
    """The credential from ``Authorization: Bearer …`` (DataRobot's ``Token …`` is accepted too)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def token_authenticator(store_url: str) -> Authenticator:
    async def authenticate(request: Request) -> Principal | None:
        token = bearer_token(request)
        if token is None or not token.startswith(PREFIX):
            return None
        return await run_in_threadpool(verify_token, store_url, token)

    return authenticate


async def authenticate(request: Request, authenticators: Sequence[Authenticator]) -> Principal:
    for authenticator in authenticators:
        principal = await authenticator(request)
        if principal is not None:
            return principal
    if bearer_token(request) is not None:
        raise AuthError("the bearer token is not valid for this API")
    raise AuthError(
        "authentication required: send 'Authorization: Bearer <token>' "
        "(create one with `airflow-mlops token create --user NAME`)"
    )


async def current_principal(request: Request) -> Principal:
    """The FastAPI dependency: the app's authenticators (``app.state.authenticators``) decide."""
    return await authenticate(request, request.app.state.authenticators)


#: A route parameter annotated ``Caller`` receives the authenticated principal.
Caller = Annotated[Principal, Depends(current_principal)]


class NotFoundOrHidden(LookupError):
    """A deployment that does not exist, or that the caller may not even see (HTTP 404)."""


def authorized(store_url: str, deployment_id: str, principal: Principal, action: str) -> Deployment:
    """The deployment, if ``principal`` may do ``action`` on it.

    No role at all answers as if the deployment did not exist, so ids cannot be
    probed; a role too weak for the action is a 403 that names what is missing.
    """
    return access(store_url, deployment_id, principal, action)[0]


def access(
    store_url: str, deployment_id: str, principal: Principal, action: str
) -> tuple[Deployment, DEPLOYMENT_ROLE]:
    """:func:`authorized`, with the caller's role (what the deployment JSON's ``permissions`` come from)."""
    deployment = Deployment.get(deployment_id, store_url=store_url)
    role = role_of(store_url, deployment_id, principal)
    if role is None:
        raise NotFoundOrHidden(f"no deployment with id {deployment_id!r}")
    if not allowed(role, action):
        raise PermissionDenied(
            f"{principal.name} is {role.value} of deployment {deployment_id}; {action} needs more"
        )
    return deployment, role
