"""The caller of an API: a user name, whether they administer everything, and how they proved it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    name: str
    is_admin: bool = False
    #: "token", "airflow" (an Airflow UI/API user) or "python" (trusted in-process callers: DAG tasks).
    via: str = "token"


class AuthError(Exception):
    """The caller could not be identified (HTTP 401)."""


class PermissionDenied(Exception):
    """The caller is known but may not do this (HTTP 403, or 404 to hide a deployment)."""
