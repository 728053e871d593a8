"""A real app under uvicorn on loopback, one per test module, with a fresh MLOps store.

Registered models come from the session's registry (``registered_models``); each
test makes its own deployments (:meth:`LiveServer.deploy`), so tests in a module
share the server but not their data. The environment points at the module's
store for as long as the module runs, so the Python API and the server agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from helpers.live_server import serve_app

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.security import create_token
from airflow_mlops.serving.app import create_app

if TYPE_CHECKING:
    from conftest import RegisteredModels

ADMIN = "root-admin"


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    settings: Settings
    models: RegisteredModels
    admin_token: str

    def token(self, user: str, *, admin: bool = False, expires_in: timedelta | None = None) -> str:
        _info, secret = create_token(
            self.settings.store_url,
            user=user,
            is_admin=admin,
            expires_in=expires_in or timedelta(days=1),
        )
        return secret

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, timeout=60, headers=headers)

    def deploy(
        self,
        model_id: str | None = None,
        label: str | None = None,
        *,
        owner: str | None = None,
        shares: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Deployment:
        """A new deployment through the Python API, owned by ``owner`` and shared as ``shares`` says."""
        deployment = Deployment.create_from_registered_model_version(
            model_id or self.models.churn_v1,
            label or f"dep-{uuid.uuid4().hex[:8]}",
            owners=[owner] if owner else None,
            actor=owner or "setup",
            store_url=self.settings.store_url,
            **kwargs,
        )
        for user, role in (shares or {}).items():
            deployment.share(user, role, actor="setup")
        return deployment

    def rows(self, n: int = 3) -> str:
        """Prediction input for the churn models: ``n`` JSON records of their features."""
        frame = self.models.train[self.models.features].head(n)
        return str(frame.to_json(orient="records"))

    def rows_frame(self, n: int = 3) -> pd.DataFrame:
        return self.models.train[self.models.features].head(n).reset_index(drop=True)


@pytest.fixture(scope="module")
def server(
    registered_models: RegisteredModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    from airflow_mlops.store import dispose_engines, migrate

    mp = pytest.MonkeyPatch()
    home: Path = tmp_path_factory.mktemp("api") / "mlops"
    mp.setenv("MLOPS_HOME", str(home))
    mp.setenv("MLFLOW_TRACKING_URI", registered_models.tracking_uri)
    mp.setenv("MLFLOW_REGISTRY_URI", registered_models.tracking_uri)
    settings = get_settings()
    settings.ensure_dirs()
    migrate(settings.store_url)
    app = create_app(settings)
    try:
        with serve_app(app) as url:
            _info, admin_token = create_token(settings.store_url, user=ADMIN, is_admin=True)
            yield LiveServer(url, app, settings, registered_models, admin_token)
    finally:
        dispose_engines()
        mp.undo()
