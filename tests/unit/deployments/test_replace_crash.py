"""``replace_model`` is atomic: a process killed inside its store transaction changes nothing.

A child process (a separate interpreter on the same MLOPS_HOME and registry)
replaces the model and is killed with SIGKILL from an SQLAlchemy ``after_flush``
listener: every statement of the replacement has reached the database (the
deployment row updated, the history, baseline, health and audit rows inserted)
but COMMIT has not been sent. That crash cannot be caused any other way. The
parent then checks the old model still serves and nothing was recorded, and that
a later replacement goes through. SQLite always; PostgreSQL when it runs on
127.0.0.1:5432.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers.scratch_postgres import scratch_database
from mlflow import MlflowClient

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.registry import load_predictor
from airflow_mlops.serving.model_cache import ModelCache
from airflow_mlops.store import HealthRow, migrate, session_scope

if TYPE_CHECKING:
    from conftest import RegisteredModels

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys

    from sqlalchemy import text
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from airflow_mlops.deployments import Deployment
    from airflow_mlops.store.tables import AuditRow

    store_url, deployment_id, new_model, marker = sys.argv[1:5]

    @event.listens_for(Session, "after_flush")
    def crash(session, _context):
        # The last flush of replace_model: the one that carries its audit record.
        if not any(isinstance(o, AuditRow) and o.action == "replace" for o in session.new):
            return
        connection = session.connection()
        seen = {
            "model_version": connection.execute(
                text("SELECT model_version FROM deployments WHERE id = :id"), {"id": deployment_id}
            ).scalar(),
            "history": connection.execute(
                text("SELECT count(*) FROM model_history WHERE deployment_id = :id"), {"id": deployment_id}
            ).scalar(),
            "audit": connection.execute(
                text("SELECT count(*) FROM audit_log WHERE deployment_id = :id"), {"id": deployment_id}
            ).scalar(),
            "baselines": connection.execute(
                text("SELECT count(*) FROM baselines WHERE deployment_id = :id"), {"id": deployment_id}
            ).scalar(),
        }
        with open(marker, "w") as f:
            json.dump(seen, f)
        os.kill(os.getpid(), signal.SIGKILL)

    deployment = Deployment.get(deployment_id, store_url=store_url)
    deployment.replace_model(new_model, "DATA_DRIFT", baseline={"v": "new"}, actor="doomed")
    print("replace_model returned: the listener never fired")
    """
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, models: RegisteredModels) -> Iterator[str]:
    if request.param == "sqlite":
        yield get_settings().store_url
        return
    with scratch_database() as url:
        migrate(url)
        yield url


def _state(store_url: str, deployment_id: str) -> dict[str, Any]:
    d = Deployment.get(deployment_id, store_url=store_url)
    with session_scope(store_url) as session:
        health = [
            (h.kind, h.status, h.message)
            for h in session.query(HealthRow)
            .filter(HealthRow.deployment_id == deployment_id)
            .order_by(HealthRow.id)
        ]
    return {
        "model": d.model,
        "updated_at": d.updated_at,
        "history": d.get_model_history(),
        "audit": d.get_audit_log(),
        "baseline_new": d.get_baseline("2"),
        "baseline_old": d.get_baseline("1"),
        "health": health,
        "settings": d.settings,
    }


def _alias(models: RegisteredModels, deployment_id: str) -> str:
    client = MlflowClient(tracking_uri=models.tracking_uri, registry_uri=models.tracking_uri)
    return str(client.get_model_version_by_alias("churn", f"deployment-{deployment_id}").version)


def _serving(store_url: str, deployment_id: str) -> str:
    """The model the prediction server's cache loads for the deployment (with the real registry loader)."""
    settings = get_settings()
    cache = ModelCache(
        store_url,
        lambda ref: load_predictor(
            ref.id, tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
        ),
    )
    try:
        return cache.get(deployment_id).info.ref.id
    finally:
        cache.stop()


def test_a_crash_inside_the_replace_transaction_changes_nothing(
    store_url: str, models: RegisteredModels, tmp_path: Path
) -> None:
    deployment = Deployment.create_from_registered_model_version(
        models.churn_v1, "Crash", actor="alice", baseline={"v": "old"}, owners=["alice"], store_url=store_url
    )
    before = _state(store_url, deployment.id)
    assert before["baseline_old"] == {"v": "old"} and before["baseline_new"] is None
    assert _serving(store_url, deployment.id) == "churn/1"

    marker = tmp_path / "inside-the-transaction.json"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, store_url, deployment.id, models.churn_v2, str(marker)],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr[-3000:])
    # The child died with the whole replacement written in its open transaction.
    seen = json.loads(marker.read_text())
    assert seen == {
        "model_version": "2",
        "history": len(before["history"]) + 1,
        "audit": len(before["audit"]) + 1,
        "baselines": 2,
    }

    after = _state(store_url, deployment.id)
    assert after == before
    assert after["model"]["id"] == "churn/1"
    assert after["baseline_new"] is None
    assert _alias(models, deployment.id) == "1"
    assert _serving(store_url, deployment.id) == "churn/1"

    # Nothing is left locked or half-done: the next replacement succeeds.
    again = Deployment.get(deployment.id, store_url=store_url)
    again.replace_model(models.churn_v2, "DATA_DRIFT", baseline={"v": "new"}, actor="alice")
    final = _state(store_url, deployment.id)
    assert final["model"]["id"] == "churn/2"
    assert [h["reason"] for h in final["history"]] == ["INITIAL", "DATA_DRIFT"]
    assert final["history"][-1]["actor"] == "alice"
    assert [e["action"] for e in final["audit"]] == ["create", "replace"]
    assert final["baseline_new"] == {"v": "new"}
    assert _alias(models, deployment.id) == "2"
    assert _serving(store_url, deployment.id) == "churn/2"
