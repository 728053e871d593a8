"""Deployments on PostgreSQL (127.0.0.1:5432): a fresh database per test, migrated, then dropped.

The same code as on SQLite, against a server with real row locks, real time
zones, a JSON type and ``ILIKE``; skipped only when no server answers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from alembic.script import ScriptDirectory
from helpers.live_server import serve_app
from helpers.scratch_postgres import scratch_database
from sqlalchemy import inspect, text

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import (
    Deployment,
    DeploymentListFilters,
    DeploymentNotFound,
    SettingsError,
    audit_log,
)
from airflow_mlops.security import AuthError, Principal, create_token, revoke_token, role_of, verify_token
from airflow_mlops.services import drift_health_settings
from airflow_mlops.store import get_engine, is_migrated, migrate, session_scope
from airflow_mlops.store.engine import alembic_config
from airflow_mlops.store.tables import Base

if TYPE_CHECKING:
    from conftest import RegisteredModels


@pytest.fixture
def pg(models: RegisteredModels) -> Iterator[str]:
    """``postgresql+psycopg2://…/mlops_test_<uuid>``: migrated, and dropped after the test."""
    with scratch_database() as url:
        migrate(url)
        yield url


def test_migrations_create_every_table_and_run_again(pg: str) -> None:
    assert is_migrated(pg)
    tables = set(inspect(get_engine(pg)).get_table_names())
    assert tables >= set(Base.metadata.tables) | {"alembic_version"}
    migrate(pg)  # a second run is a no-op
    with session_scope(pg) as session:
        (revision,) = session.execute(text("SELECT version_num FROM alembic_version")).one()
    assert revision == ScriptDirectory.from_config(alembic_config(pg)).get_current_head()


def test_deployment_lifecycle_on_postgres(pg: str, models: RegisteredModels) -> None:
    sqlite_url = get_settings().store_url
    d = Deployment.create_from_registered_model_version(
        models.churn_v1, "Churn_EU", actor="alice", owners=["alice"], baseline={"v": 1}, store_url=pg
    )
    assert d.store_url == pg
    assert d.created_at.tzinfo is not None
    assert Deployment.get(d.id, store_url=pg).model["id"] == "churn/1"
    with pytest.raises(DeploymentNotFound):  # nothing leaked into the default (SQLite) store
        Deployment.get(d.id, store_url=sqlite_url)

    for label in ("churnXeu", "100% sure", "1000 sure", "back\\slash"):
        Deployment.create_from_registered_model_version(models.churn_v1, label, store_url=pg)

    def search(text: str) -> list[str]:
        return [x.label for x in Deployment.list(search=text, store_url=pg)]

    assert search("n_e") == ["Churn_EU"]
    assert search("CHURN") == ["Churn_EU", "churnXeu"]
    assert search("0%") == ["100% sure"]
    assert search("%") == ["100% sure"]
    assert search("_") == ["Churn_EU"]
    assert search("\\") == ["back\\slash"]
    assert Deployment.list(order_by="-label", store_url=pg)[0].label == "churnXeu"
    alice = Principal("alice")
    assert [x.id for x in Deployment.list(principal=alice, store_url=pg)] == [d.id]
    owned = Deployment.list(principal=alice, filters=DeploymentListFilters(role=["OWNER"]), store_url=pg)
    assert [x.id for x in owned] == [d.id]

    d.update(importance="HIGH", description="on postgres", actor="alice")
    d.update_settings(
        {"drift_tracking": {"target_drift": {"enabled": False}}, "association_id": {"column_names": ["cid"]}},
        actor="alice",
    )
    d.update_health_settings(data_drift={"drift_threshold": 0.25, "metric": "js_divergence"}, actor="alice")
    with pytest.raises(SettingsError, match="regression deployments only"):
        d.update_prediction_warning_settings(True)
    fresh = Deployment.get(d.id, store_url=pg)
    assert fresh.importance == "HIGH"
    assert fresh.settings["drift_tracking"]["target_drift"] == {"enabled": False}
    assert fresh.settings["association_id"]["column_names"] == ["cid"]
    assert drift_health_settings(fresh.settings).metric == "js_divergence"

    d.share("bob", "USER", actor="alice")
    assert role_of(pg, d.id, Principal("bob")) == "USER"
    status, _message, checks = d.validate_replacement_model(models.churn_small)
    assert status == "failing" and checks["features"]["status"] == "failing"
    with pytest.raises(ValueError, match="cannot replace"):
        d.replace_model(models.churn_small, "ACCURACY")
    d.replace_model(models.churn_v2, "DATA_DRIFT", baseline={"v": 2}, actor="alice")
    assert [h["reason"] for h in d.get_model_history()] == ["INITIAL", "DATA_DRIFT"]
    assert d.get_baseline() == {"v": 2} and d.get_baseline("1") == {"v": 1}
    assert d.model_health["status"] == "unknown"

    d.deactivate(actor="alice")
    assert Deployment.list(status="inactive", store_url=pg)[0].id == d.id
    d.delete(actor="alice")
    with pytest.raises(DeploymentNotFound):
        Deployment.get(d.id, store_url=pg)
    assert role_of(pg, d.id, Principal("bob")) is None
    trail = audit_log(d.id, store_url=pg)
    assert [e["action"] for e in trail] == [
        "create",
        "update",
        "settings",
        "settings.health",
        "share",
        "replace",
        "deactivate",
        "delete",
    ]
    assert {e["actor"] for e in trail} == {"alice"}
    assert trail[3]["after"]["settings"]["health"]["data_drift"]["drift_threshold"] == 0.25


def test_tokens_on_postgres(pg: str) -> None:
    info, secret = create_token(pg, user="alice", expires_in=timedelta(hours=1))
    assert verify_token(pg, secret) == Principal("alice", False, "token")
    assert info.expires_at is not None and info.expires_at.tzinfo is not None
    revoke_token(pg, info.id)
    with pytest.raises(AuthError, match="revoked"):
        verify_token(pg, secret)


def test_concurrent_updates_serialise_on_the_row_lock(pg: str, models: RegisteredModels) -> None:
    """Each change reads the row FOR UPDATE, so parallel settings updates lose nothing."""
    d = Deployment.create_from_registered_model_version(models.churn_v1, "Locked", store_url=pg)
    errors: list[BaseException] = []

    def change(i: int) -> None:
        try:
            mine = Deployment.get(d.id, store_url=pg)
            if i % 2:
                mine.update_drift_tracking_settings(target_drift_enabled=False, actor=f"t{i}")
            else:
                mine.update(description=f"writer {i}", actor=f"t{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=change, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    fresh = Deployment.get(d.id, store_url=pg)
    assert fresh.settings["drift_tracking"]["target_drift"] == {"enabled": False}
    assert fresh.description is not None and fresh.description.startswith("writer ")
    trail = fresh.get_audit_log()
    assert len(trail) == 9
    # Every audit record's "before" is the previous record's "after": no lost update.
    for previous, entry in itertools.pairwise(trail):
        assert entry["before"] == previous["after"]


# ---- the REST API on PostgreSQL ---------------------------------------------------------------------


def test_rest_edge_input_on_postgres_is_never_a_5xx(pg: str, models: RegisteredModels) -> None:
    """PostgreSQL refuses NUL characters in text, which SQLite stores: the API must say 4xx, not 500."""
    from airflow_mlops.serving.app import create_app

    app = create_app(replace(get_settings(), store_url=pg))
    _info, token = create_token(pg, user="alice")
    _info, admin = create_token(pg, user="root", is_admin=True)
    with (
        serve_app(app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client,
    ):
        created = client.post(
            "/api/v2/deployments/fromModelPackage/",
            json={"modelPackageId": models.churn_v1, "label": "pg"},
        )
        assert created.status_code == 201, created.text
        did = created.json()["id"]
        base = f"/api/v2/deployments/{did}"
        attempts = [
            client.post(
                "/api/v2/deployments/fromModelPackage/",
                json={"modelPackageId": models.churn_v1, "label": "nul\x00label"},
            ),
            client.patch(f"{base}/", json={"label": "nul\x00label"}),
            client.patch(f"{base}/", json={"description": "nul\x00"}),
            client.patch(f"{base}/sharedRoles/", json={"roles": [{"username": "bob\x00", "role": "USER"}]}),
            client.patch(f"{base}/settings/", json={"associationId": {"columnNames": ["c\x00"]}}),
            client.patch(f"{base}/healthSettings/", json={"accuracy": {"metric": "AUC\x00"}}),
            client.get("/api/v2/deployments/", params={"search": "a\x00b"}),
            client.post("/predApi/v1.0/deployments/abc%00def/predictions", content="[]"),
            httpx.post(
                f"{url}/predApi/v1.0/deployments/abc%00def/predictions",
                content="[]",
                headers={"Authorization": f"Bearer {admin}"},
            ),
            client.post(f"{base}/model/validation/", json={"modelId": "churn\x00/1"}),
        ]
        for response in attempts:
            assert 400 <= response.status_code < 500, (
                response.request.url,
                response.status_code,
                response.text,
            )
        assert client.get(f"{base}/").json()["label"] == "pg"
        assert client.get(f"{base}/settings/").json()["associationId"]["columnNames"] == []


def test_overview_reads_on_postgres(pg: str, models: RegisteredModels) -> None:
    """The latest report's JSON path query and the grouped usage and humility reads, on a real server."""
    from datetime import UTC, datetime

    from airflow_mlops.deployments import deployment_overviews, latest_reports
    from airflow_mlops.monitoring.reads import get_humility_stats_over_time
    from airflow_mlops.store import HealthRow, ServiceBucketRow

    d = Deployment.create_from_registered_model_version(models.churn_v1, "pg overview", store_url=pg)
    hour = datetime(2024, 3, 1, 10, tzinfo=UTC)
    per_minute = [0] * 60
    per_minute[41] = 2
    with session_scope(pg) as session:
        for i, uri in enumerate(["file:///old.html", "file:///new.html", None]):
            session.add(
                HealthRow(
                    deployment_id=d.id,
                    kind="drift",
                    status="passing",
                    message="ok",
                    window_start=hour,
                    window_end=hour,
                    details={"report_uri": uri},
                    evaluated_at=hour + timedelta(hours=i),
                )
            )
        session.add(
            ServiceBucketRow(
                deployment_id=d.id,
                model_version="1",
                hour=hour,
                predictions=5,
                errors=0,
                latency_ms_sum=1.0,
                per_minute=per_minute,
                warned_rows=4,
                outlier_predictions=1,
            )
        )
    (report,) = latest_reports(pg, [d.id]).values()
    assert (report.uri, report.created_at) == ("file:///new.html", hour + timedelta(hours=1))
    overview = deployment_overviews([d], pg)[d.id]
    assert overview.prediction_usage.last_timestamp == hour + timedelta(minutes=41)
    humility = get_humility_stats_over_time(
        d.id, store_url=pg, bucket_size="PT1H", start_time=hour, end_time=hour + timedelta(hours=1)
    )
    assert humility.buckets[0] | {"period": None} == {
        "period": None,
        "rowCount": 4,
        "outlierPredictions": 1,
        "value": 0.25,
    }
