"""services.replacement: deploy or replace a model, and close a retraining request with the outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_mlops.deployments import Deployment
from airflow_mlops.retraining import get_request, request_retraining
from airflow_mlops.services import deploy_model, replace_with_outcome

if TYPE_CHECKING:
    from conftest import RegisteredModels


def test_deploy_model_creates_then_replaces(models: RegisteredModels) -> None:
    created, action = deploy_model(models.churn_v1, label="churn", actor="tester")
    assert action == "created"
    assert Deployment.get(created.id).model["id"] == models.churn_v1

    replaced, action = deploy_model(
        models.churn_v2, label="ignored", deployment_id=created.id, reason="DATA_DRIFT", actor="tester"
    )
    assert (replaced.id, action) == (created.id, "replaced")
    history = Deployment.get(created.id).get_model_history()
    assert [h["reason"] for h in history] == ["INITIAL", "DATA_DRIFT"]


def test_deploy_model_refuses_an_unknown_reason_before_changing_anything(models: RegisteredModels) -> None:
    created, _ = deploy_model(models.churn_v1, label="churn")
    with pytest.raises(ValueError, match=r"reason='BOREDOM' is not valid.*'DATA_DRIFT'"):
        deploy_model(models.churn_v2, label="x", deployment_id=created.id, reason="BOREDOM")
    assert Deployment.get(created.id).model["id"] == models.churn_v1


def test_replace_with_outcome_records_the_request_as_replaced(models: RegisteredModels) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "churn")
    request = request_retraining(deployment.id, "DATA_DRIFT", origin="monitor")
    result = replace_with_outcome(
        deployment.id,
        models.churn_v2,
        "DATA_DRIFT",
        details={"scores": {"champion": 0.7, "challenger": 0.8}, "judgement": "better by 0.1"},
        request_id=request.id,
        actor="airflow:test",
    )
    assert (result["old_model_id"], result["new_model_id"], result["reason"]) == (
        models.churn_v1,
        models.churn_v2,
        "DATA_DRIFT",
    )
    assert result["validation"].startswith(("passing", "warning"))
    done = get_request(request.id)
    assert done.status == "replaced"
    assert (done.champion_model_id, done.challenger_model_id) == (models.churn_v1, models.churn_v2)
    assert done.scores == {"champion": 0.7, "challenger": 0.8}
    assert "better by 0.1" in done.message
    last = Deployment.get(deployment.id).get_model_history()[-1]
    assert (last["reason"], last["actor"], last["details"]["request_id"]) == (
        "DATA_DRIFT",
        "airflow:test",
        request.id,
    )


def test_a_failing_validation_changes_neither_the_deployment_nor_the_request(
    models: RegisteredModels,
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "churn")
    request = request_retraining(deployment.id, "ACCURACY", origin="monitor")
    # ``charges`` predicts another target with another task: validation fails.
    with pytest.raises(ValueError, match=r"cannot replace.*targetType.*target"):
        replace_with_outcome(deployment.id, models.charges, "ACCURACY", request_id=request.id)
    assert Deployment.get(deployment.id).model["id"] == models.churn_v1
    assert len(Deployment.get(deployment.id).get_model_history()) == 1
    assert get_request(request.id).status == "requested"
