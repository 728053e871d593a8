"""Service-health thresholds end to end: changed over REST or Python, audited, then judged by a pass.

Predictions go through the real server; the monitoring pass (``monitor_deployment``,
what ``mlops_monitor`` runs) must judge the window with the thresholds the owner
set, not the defaults, and the change must be in the deployment's audit log.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from monitoring_traffic import D, H, score

from airflow_mlops.deployments import Deployment
from airflow_mlops.services.monitoring_pass import monitor_deployment

if TYPE_CHECKING:
    from conftest import LiveServer


def _traffic(server: LiveServer, client: httpx.Client, deployment: Deployment, requests: int) -> None:
    for i in range(requests):
        score(client, deployment, server.rows_frame(2).assign(ts=(H + timedelta(minutes=5 + i)).isoformat()))


def _judge(server: LiveServer, deployment: Deployment) -> tuple[str, str]:
    server.app.state.prediction_log.flush()
    result = monitor_deployment(
        deployment.id, server.settings, window_end=H + timedelta(minutes=30), window_hours=1
    )
    return result.service_status, result.service_message


def test_a_rest_change_is_audited_and_judges_the_next_pass(server: LiveServer) -> None:
    owner = f"sam-{uuid.uuid4().hex[:6]}"
    deployment = server.deploy(owner=owner)
    with server.client(server.token(owner)) as client:
        _traffic(server, client, deployment, 3)
        assert _judge(server, deployment)[0] == "passing", "no threshold on response time by default"

        # Any answer takes more than a microsecond: with this threshold the same window fails.
        url = f"{D}/{deployment.id}/healthSettings/"
        changed = client.patch(url, json={"service": {"responseTimeFailingMs": 0.001}})
        assert changed.status_code == 200, changed.text
        assert client.get(url).json()["service"]["responseTimeFailingMs"] == 0.001
        entry = client.get(f"{D}/{deployment.id}/auditLog/").json()["data"][-1]
        assert (entry["action"], entry["actor"]) == ("settings.health", owner)
        before, after = (entry[k]["settings"]["health"]["service"] for k in ("before", "after"))
        assert (before["response_time_failing_ms"], after["response_time_failing_ms"]) == (None, 0.001)

    status, message = _judge(server, deployment)
    assert status == "failing"
    assert "median response time" in message and ">= 0.001 ms" in message and "of 3 requests" in message


def test_a_python_change_is_audited_and_judges_the_next_pass(server: LiveServer) -> None:
    owner = f"pia-{uuid.uuid4().hex[:6]}"
    deployment = server.deploy(owner=owner)
    with server.client(server.token(owner)) as client:
        _traffic(server, client, deployment, 2)
    assert _judge(server, deployment)[0] == "passing"

    ours = Deployment.get(deployment.id, store_url=server.settings.store_url)
    ours.update_health_settings(service={"min_requests": 5, "slow_warning": 0.1}, actor=owner)
    assert ours.get_health_settings()["service"]["min_requests"] == 5
    entry = ours.get_audit_log()[-1]
    assert (entry["action"], entry["actor"]) == ("settings.health", owner)
    assert entry["before"]["settings"]["health"]["service"]["min_requests"] == 1
    assert entry["after"]["settings"]["health"]["service"]["min_requests"] == 5

    # Two requests are too few to judge by this deployment's rule (the default needs one).
    assert _judge(server, deployment) == ("unknown", "unknown: 2 requests in the window (need 5)")
