"""Retraining requests against a real store and registry: reasons, cool-down, approval, transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from airflow_mlops.deployments import Deployment
from airflow_mlops.retraining import (
    RequestStateError,
    get_request,
    list_requests,
    mark_dispatched,
    mark_running,
    record_outcome,
    reject_request,
    request_retraining,
    undispatched_requests,
)
from airflow_mlops.security import PermissionDenied, Principal
from airflow_mlops.services import approve_request

if TYPE_CHECKING:
    from conftest import RegisteredModels

T = datetime(2024, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def deployment(models: RegisteredModels) -> Deployment:
    return Deployment.create_from_registered_model_version(
        models.churn_v1, "Churn", actor="alice", owners=["alice"]
    )


def test_cool_down_suppresses_automatic_requests_but_not_a_person(deployment: Deployment) -> None:
    first = request_retraining(
        deployment.id, "DATA_DRIFT", evidence={"psi": 0.4}, origin="monitor", requested_at=T
    )
    assert first.status == "requested" and first.accepted

    later = T + timedelta(hours=5)
    flapping = request_retraining(
        deployment.id, "ACCURACY", evidence={}, origin="monitor", requested_at=later
    )
    assert flapping.status == "suppressed"
    assert f"within the cool-down (P1D) of request {first.id} (DATA_DRIFT" in flapping.message
    scheduled = request_retraining(deployment.id, "SCHEDULED_REFRESH", origin="schedule", requested_at=later)
    assert scheduled.status == "suppressed"

    person = request_retraining(
        deployment.id, "OTHER", evidence={"note": "new pricing"}, origin="user", requested_at=later
    )
    assert person.status == "requested"  # a person's request bypasses the cool-down

    # Suppressed requests do not extend the cool-down; the accepted person's request does.
    after = request_retraining(
        deployment.id, "DATA_DRIFT", origin="monitor", requested_at=later + timedelta(hours=23)
    )
    assert after.status == "suppressed" and person.id in after.message
    free = request_retraining(
        deployment.id, "DATA_DRIFT", origin="monitor", requested_at=later + timedelta(hours=25)
    )
    assert free.status == "requested"

    history = list_requests(deployment.id)
    assert [r.id for r in history][:2] == [free.id, after.id]  # newest first
    assert [r.status for r in list_requests(deployment.id, status="suppressed")] == ["suppressed"] * 3


def test_a_shorter_cool_down_and_reasons_the_policy_does_not_trigger_on(deployment: Deployment) -> None:
    deployment.update_retraining_settings(cool_down="PT2H", trigger_reasons=["ACCURACY", "OTHER"])
    drift = request_retraining(deployment.id, "DATA_DRIFT", origin="monitor", requested_at=T)
    assert drift.status == "suppressed"
    assert drift.message == (
        "suppressed: DATA_DRIFT is not in the policy's trigger_reasons ['ACCURACY', 'OTHER']"
    )
    accuracy = request_retraining(deployment.id, "ACCURACY", origin="monitor", requested_at=T)
    assert accuracy.status == "requested"
    assert (
        request_retraining(
            deployment.id, "ACCURACY", origin="monitor", requested_at=T + timedelta(hours=1)
        ).status
        == "suppressed"
    )
    assert (
        request_retraining(
            deployment.id, "ACCURACY", origin="monitor", requested_at=T + timedelta(hours=2)
        ).status
        == "requested"
    )


def test_bad_arguments_are_refused_before_anything_is_stored(deployment: Deployment) -> None:
    with pytest.raises(ValueError, match="reason"):
        request_retraining(deployment.id, "BOREDOM", origin="monitor")
    with pytest.raises(
        ValueError, match=r"origin='cron' is not valid; expected one of \['monitor', 'schedule', 'user'\]"
    ):
        request_retraining(deployment.id, "OTHER", origin="cron")
    with pytest.raises(ValueError, match="naive"):
        request_retraining(deployment.id, "OTHER", origin="user", requested_at=datetime(2024, 1, 1))
    with pytest.raises(LookupError, match="no deployment with id 'ffffffffffffffffffffffff'"):
        request_retraining("f" * 24, "OTHER", origin="user")
    assert list_requests(deployment.id) == []


def test_lifecycle_and_the_dispatch_marker(deployment: Deployment) -> None:
    request = request_retraining(deployment.id, "OTHER", origin="user", requested_at=T)
    assert [r.id for r in undispatched_requests()] == [request.id]
    mark_dispatched(request.id)
    assert undispatched_requests() == []

    running = mark_running(request.id, dag_run_id="manual__1")
    assert (running.status, running.dag_run_id) == ("running", "manual__1")
    assert mark_running(request.id, dag_run_id="manual__1").status == "running"  # a retried task
    with pytest.raises(RequestStateError, match="already being worked on by DAG run 'manual__1'"):
        mark_running(request.id, dag_run_id="manual__2")
    done = record_outcome(
        request.id,
        status="not_replaced",
        message="challenger churn/2 AUC 0.70 is not better than champion churn/1 AUC 0.71 by margin 0",
        champion_model_id="churn/1",
        challenger_model_id="churn/2",
        scores={"metric": "AUC", "champion": 0.71, "challenger": 0.70},
    )
    assert done.to_dict()["scores"]["challenger"] == 0.70 and done.decided_at is not None
    with pytest.raises(RequestStateError, match="its status is 'not_replaced'"):
        record_outcome(request.id, status="replaced", message="again")
    with pytest.raises(ValueError, match="status='won' is not valid"):
        record_outcome(request.id, status="won", message="")
    assert get_request(request.id).status == "not_replaced"
    assert Deployment.get(deployment.id).model["id"] == deployment.model["id"]


def _awaiting(deployment: Deployment, models: RegisteredModels) -> str:
    deployment.update_retraining_settings(replacement="approval")
    request = request_retraining(
        deployment.id, "ACCURACY", evidence={"logloss": 0.9}, origin="monitor", requested_at=T
    )
    mark_running(request.id, dag_run_id="asset_triggered__1")
    record_outcome(
        request.id,
        status="awaiting_approval",
        message="challenger churn/2 is better; waiting for approval",
        champion_model_id=models.churn_v1,
        challenger_model_id=models.churn_v2,
        scores={"metric": "LogLoss", "champion": 0.62, "challenger": 0.48},
    )
    return request.id


def test_approval_replaces_with_the_requests_reason_evidence_and_scores(
    deployment: Deployment, models: RegisteredModels
) -> None:
    request_id = _awaiting(deployment, models)
    assert Deployment.get(deployment.id).model["id"] == models.churn_v1  # nothing changes until approved

    # Someone without the OWNER role cannot approve, and nothing changes.
    deployment.share("bob", "USER", actor="alice")
    with pytest.raises(PermissionDenied):
        approve_request(request_id, actor="bob", principal=Principal("bob"))
    assert get_request(request_id).status == "awaiting_approval"
    assert Deployment.get(deployment.id).model["id"] == models.churn_v1

    approved = approve_request(request_id, actor="alice", principal=Principal("alice"))
    assert approved.status == "replaced" and "approved by alice" in approved.message
    after = Deployment.get(deployment.id)
    assert after.model["id"] == models.churn_v2
    last = after.get_model_history()[-1]
    assert (last["reason"], last["old_model_version"], last["new_model_version"]) == ("ACCURACY", "1", "2")
    assert last["details"]["scores"] == {"metric": "LogLoss", "champion": 0.62, "challenger": 0.48}
    assert last["details"]["evidence"] == {"logloss": 0.9}
    assert (last["details"]["request_id"], last["details"]["dag_run_id"]) == (
        request_id,
        "asset_triggered__1",
    )
    with pytest.raises(RequestStateError, match="approve needs 'awaiting_approval'"):
        approve_request(request_id, actor="alice")


def test_rejection_keeps_the_champion(deployment: Deployment, models: RegisteredModels) -> None:
    request_id = _awaiting(deployment, models)
    rejected = reject_request(request_id, actor="alice", note="holiday traffic, not a real change")
    assert rejected.status == "rejected"
    assert rejected.message == "rejected by alice: holiday traffic, not a real change"
    assert Deployment.get(deployment.id).model["id"] == models.churn_v1
    assert Deployment.get(deployment.id).get_model_history()[-1]["reason"] != "ACCURACY"
    with pytest.raises(RequestStateError):
        approve_request(request_id, actor="alice")
