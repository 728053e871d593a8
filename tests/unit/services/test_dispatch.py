"""services.dispatch: a refresh schedule that fired in an interval becomes one SCHEDULED_REFRESH request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from airflow_mlops.deployments import Deployment
from airflow_mlops.retraining import list_requests
from airflow_mlops.services import request_due_refreshes

if TYPE_CHECKING:
    from conftest import RegisteredModels

MONDAY_3AM = datetime(2026, 3, 2, 3, tzinfo=UTC)


def test_a_fired_schedule_makes_one_request_per_deployment(models: RegisteredModels) -> None:
    weekly = Deployment.create_from_registered_model_version(models.churn_v1, "weekly")
    weekly.update_retraining_settings(refresh_schedule="0 3 * * 1")  # Mondays 03:00
    never = Deployment.create_from_registered_model_version(models.churn_v1, "no schedule")

    made = request_due_refreshes(MONDAY_3AM - timedelta(hours=1), MONDAY_3AM + timedelta(minutes=1))

    assert [(m["deployment_id"], m["status"]) for m in made] == [(weekly.id, "requested")]
    (request,) = list_requests(weekly.id)
    assert (request.reason, request.origin, request.requested_at) == (
        "SCHEDULED_REFRESH",
        "schedule",
        MONDAY_3AM,
    )
    assert request.evidence == {"schedule": "0 3 * * 1", "fired_at": MONDAY_3AM.isoformat()}
    assert list_requests(never.id) == []


def test_an_interval_the_schedule_did_not_fire_in_makes_nothing(models: RegisteredModels) -> None:
    weekly = Deployment.create_from_registered_model_version(models.churn_v1, "weekly")
    weekly.update_retraining_settings(refresh_schedule="0 3 * * 1")
    assert request_due_refreshes(MONDAY_3AM + timedelta(hours=1), MONDAY_3AM + timedelta(hours=2)) == []
    assert list_requests(weekly.id) == []


def test_an_inactive_deployment_is_not_refreshed(models: RegisteredModels) -> None:
    weekly = Deployment.create_from_registered_model_version(models.churn_v1, "weekly")
    weekly.update_retraining_settings(refresh_schedule="0 3 * * 1")
    weekly.deactivate()
    assert request_due_refreshes(MONDAY_3AM - timedelta(hours=1), MONDAY_3AM + timedelta(hours=1)) == []


def test_an_empty_interval_is_refused_naming_both_ends() -> None:
    with pytest.raises(
        ValueError, match=r"interval_start \(2026-03-02T03:00:00\+00:00\) must be before interval_end"
    ):
        request_due_refreshes(MONDAY_3AM, MONDAY_3AM)
