"""The REST API: DataRobot-shaped management routes, predictions, and how callers authenticate."""

from __future__ import annotations

from airflow_mlops.api.auth import Authenticator, token_authenticator

__all__ = ["Authenticator", "token_authenticator"]
