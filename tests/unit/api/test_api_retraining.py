"""``retrainingRequests/``: a person asks for a retrain, an owner approves or rejects a waiting challenger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import pytest

from airflow_mlops.deployments import Deployment
from airflow_mlops.retraining import mark_running, record_outcome, request_retraining, undispatched_requests

if TYPE_CHECKING:
    from conftest import LiveServer

D = "/api/v2/deployments"


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    name = f"rita-{uuid.uuid4().hex[:8]}"
    with server.client(server.token(name)) as client:
        yield name, client


def _waiting(server: LiveServer, deployment: Deployment) -> str:
    """A request whose better challenger (churn v2) waits for approval."""
    url = server.settings.store_url
    request = request_retraining(
        deployment.id,
        "DATA_DRIFT",
        evidence={"psi": {"tenure_months": 0.41}},
        origin="monitor",
        requested_at=datetime(2024, 6, 1, tzinfo=UTC),
        store_url=url,
    )
    mark_running(request.id, dag_run_id="asset_triggered__7", store_url=url)
    record_outcome(
        request.id,
        status="awaiting_approval",
        message="challenger is better by 0.03 AUC; waiting for approval",
        champion_model_id=server.models.churn_v1,
        challenger_model_id=server.models.churn_v2,
        scores={"metric": "AUC", "champion": 0.80, "challenger": 0.83},
        store_url=url,
    )
    return request.id


def test_a_person_asks_for_a_retrain_with_a_note(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    response = client.post(f"{D}/{d.id}/retrainingRequests/", json={"note": "new price list"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["reason"], body["origin"], body["status"], body["actor"]) == (
        "OTHER",
        "user",
        "requested",
        name,
    )
    assert body["evidence"] == {"note": "new price list"}
    assert body["id"] in {r.id for r in undispatched_requests(store_url=server.settings.store_url)}
    listed = client.get(f"{D}/{d.id}/retrainingRequests/").json()
    assert [r["id"] for r in listed["data"]] == [body["id"]]

    bad = client.post(f"{D}/{d.id}/retrainingRequests/", json={"reason": "BOREDOM"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "reason"]


def test_an_owner_approves_a_waiting_challenger(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    request_id = _waiting(server, d)
    response = client.post(f"{D}/{d.id}/retrainingRequests/{request_id}/approve/")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "replaced"
    after = Deployment.get(d.id, store_url=server.settings.store_url)
    assert after.model["id"] == server.models.churn_v2
    last = after.get_model_history()[-1]
    assert last["reason"] == "DATA_DRIFT" and last["details"]["approved_by"] == name
    assert last["details"]["scores"]["challenger"] == 0.83

    again = client.post(f"{D}/{d.id}/retrainingRequests/{request_id}/approve/")
    assert again.status_code == 409 and "its status is 'replaced'" in again.json()["detail"]
    # The request belongs to this deployment only.
    other = server.deploy(owner=name)
    assert client.post(f"{D}/{other.id}/retrainingRequests/{request_id}/approve/").status_code == 404


def test_an_owner_rejects_and_the_champion_stays(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    request_id = _waiting(server, d)
    response = client.post(
        f"{D}/{d.id}/retrainingRequests/{request_id}/reject/", json={"note": "a holiday, not a trend"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"] == f"rejected by {name}: a holiday, not a trend"
    assert Deployment.get(d.id, store_url=server.settings.store_url).model["id"] == server.models.churn_v1
    approve = client.post(f"{D}/{d.id}/retrainingRequests/{request_id}/approve/")
    assert approve.status_code == 409
