"""Deployments against a real MLflow registry and a real MLOps store (both SQLite under tmp_path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from mlflow import MlflowClient
from sqlalchemy import update
from sqlalchemy.exc import StatementError

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment, DeploymentNotFound, ModelRef, model_version_info
from airflow_mlops.enums import MODEL_REPLACEMENT_REASON
from airflow_mlops.store import DeploymentRow, HealthRow, session_scope

if TYPE_CHECKING:
    from conftest import RegisteredModels

ALL_CHECKS = {
    "permission",
    "supported",
    "modelCanBeDeployed",
    "modelStatus",
    "notCurrentModel",
    "targetType",
    "target",
    "features",
    "featureDataTypes",
}


def _alias_version(model_name: str, deployment_id: str) -> str:
    settings = get_settings()
    client = MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
    )
    return str(client.get_model_version_by_alias(model_name, f"deployment-{deployment_id}").version)


def _failing(checks: dict[str, dict[str, str]]) -> set[str]:
    return {name for name, check in checks.items() if check["status"] == "failing"}


def _set_drift_health(deployment_id: str, status: str, message: str) -> None:
    now = datetime.now(UTC)
    with session_scope(get_settings().store_url) as session:
        session.add(
            HealthRow(
                deployment_id=deployment_id,
                kind="drift",
                status=status,
                message=message,
                window_start=now,
                window_end=now,
                details={},
                evaluated_at=now,
            )
        )


@pytest.fixture
def deployment(models: RegisteredModels) -> Deployment:
    return Deployment.create_from_registered_model_version(
        models.churn_v1, "Churn EU", actor="alice", baseline={"version": "one"}
    )


# ---- model_version_info ---------------------------------------------------------------------------


def test_model_version_info_reads_the_registry_tags(models: RegisteredModels) -> None:
    info = model_version_info(models.churn_v1)
    assert info.ref == ModelRef("churn", "1")
    assert (info.target, info.task, info.target_type, info.family) == (
        "churned",
        "binary",
        "Binary",
        "linear",
    )
    assert info.features == models.features
    assert info.run_id
    regression = model_version_info(f"models:/{models.charges}")
    assert (regression.target, regression.target_type) == ("monthly_charges", "Regression")
    assert "monthly_charges" not in regression.features


def test_model_version_info_explains_unknown_and_untagged_models(models: RegisteredModels) -> None:
    with pytest.raises(LookupError, match=r"'churn/99' is not in the MLflow registry"):
        model_version_info("churn/99")
    with pytest.raises(ValueError, match=r"lacks the registry tags \['target', 'task', 'features'\]"):
        model_version_info(models.untagged)


# ---- create / get / list ----------------------------------------------------------------------


def test_create_records_the_model_history_baseline_and_alias(models: RegisteredModels) -> None:
    d = Deployment.create_from_registered_model_version(
        models.churn_v1,
        "  Churn EU  ",
        description="weekly churn scores",
        importance="HIGH",
        actor="alice",
        baseline={"bins": [1, 2, 3]},
    )
    assert d.label == "Churn EU"
    assert (d.description, d.status, d.importance) == ("weekly churn scores", "active", "HIGH")
    assert d.model == {
        "id": "churn/1",
        "uri": "models:/churn/1",
        "registered_model_name": "churn",
        "version": "1",
        "target_name": "churned",
        "target_type": "Binary",
    }
    assert d.settings["drift_tracking"]["feature_drift"]["enabled"] is True
    assert d.model_health["status"] == "unknown"
    assert d.created_at.tzinfo is not None

    history = d.get_model_history()
    assert len(history) == 1
    assert {k: v for k, v in history[0].items() if k != "timestamp"} == {
        "old_model_version": None,
        "new_model_version": "1",
        "reason": "INITIAL",
        "actor": "alice",
        "details": {"model_id": "churn/1"},
    }
    assert d.get_baseline() == {"bins": [1, 2, 3]}
    assert _alias_version("churn", d.id) == "1"

    again = Deployment.get(d.id)
    assert (again.label, again.model, again.importance) == (d.label, d.model, d.importance)


@pytest.mark.parametrize("label", ["", "   "])
def test_create_refuses_an_empty_label(models: RegisteredModels, label: str) -> None:
    with pytest.raises(ValueError, match="label must be a non-empty string"):
        Deployment.create_from_registered_model_version(models.churn_v1, label)
    assert Deployment.list() == []


def test_create_refuses_an_unknown_importance_naming_the_valid_ones(models: RegisteredModels) -> None:
    with pytest.raises(ValueError) as info:
        Deployment.create_from_registered_model_version(models.churn_v1, "x", importance="URGENT")
    message = str(info.value)
    assert "importance='URGENT'" in message
    for valid in ("'CRITICAL'", "'HIGH'", "'MODERATE'", "'LOW'"):
        assert valid in message
    assert Deployment.list() == []


def test_create_refuses_an_unregistered_model(models: RegisteredModels) -> None:
    with pytest.raises(LookupError, match="churn/42"):
        Deployment.create_from_registered_model_version("churn/42", "x")
    assert Deployment.list() == []


def test_get_unknown_id(models: RegisteredModels) -> None:
    with pytest.raises(DeploymentNotFound, match="'nope'"):
        Deployment.get("nope")


def test_list_orders_by_label_and_filters(models: RegisteredModels) -> None:
    for label in ("fraud", "churn US", "Churn EU"):
        Deployment.create_from_registered_model_version(models.churn_v1, label)
    assert [d.label for d in Deployment.list()] == ["Churn EU", "churn US", "fraud"]
    assert [d.label for d in Deployment.list(search="CHURN")] == ["Churn EU", "churn US"]
    assert [d.label for d in Deployment.list(search="eu")] == ["Churn EU"]
    assert Deployment.list(search="nothing like it") == []

    fraud = Deployment.list(search="fraud")[0]
    with session_scope(get_settings().store_url) as session:
        session.execute(update(DeploymentRow).where(DeploymentRow.id == fraud.id).values(status="inactive"))
    assert [d.label for d in Deployment.list(status="inactive")] == ["fraud"]
    assert [d.label for d in Deployment.list(status="active")] == ["Churn EU", "churn US"]
    with pytest.raises(ValueError, match="status='gone' is not valid; expected one of 'active', 'inactive'"):
        Deployment.list(status="gone")


def test_list_search_is_literal_not_a_like_pattern(models: RegisteredModels) -> None:
    for label in ("churn_eu", "churnXeu", "100% sure", "1000 sure", "a\\b"):
        Deployment.create_from_registered_model_version(models.churn_v1, label)
    assert [d.label for d in Deployment.list(search="n_e")] == ["churn_eu"]
    assert [d.label for d in Deployment.list(search="0%")] == ["100% sure"]
    assert [d.label for d in Deployment.list(search="\\")] == ["a\\b"]


# ---- validate_replacement_model ----------------------------------------------------------------


def test_validate_passes_for_another_version_of_the_same_model(
    deployment: Deployment, models: RegisteredModels
) -> None:
    status, message, checks = deployment.validate_replacement_model(models.churn_v2)
    assert status == "passing"
    assert message == "Model churn/2 can replace churn/1"
    assert set(checks) == ALL_CHECKS
    assert _failing(checks) == set()


def test_validate_fails_for_the_current_model(deployment: Deployment, models: RegisteredModels) -> None:
    status, message, checks = deployment.validate_replacement_model(models.churn_v1)
    assert status == "failing"
    assert _failing(checks) == {"notCurrentModel"}
    assert checks["notCurrentModel"]["message"] == "churn/1 is already this deployment's model"
    assert "notCurrentModel failed" in message


def test_validate_fails_for_another_target(deployment: Deployment, models: RegisteredModels) -> None:
    status, message, checks = deployment.validate_replacement_model(models.charges)
    assert status == "failing"
    # charges predicts monthly_charges, which the churn models take as a feature.
    assert _failing(checks) == {"targetType", "target", "features"}
    assert checks["targetType"]["message"] == "the new model is Regression but the deployment is Binary"
    assert "'monthly_charges'" in checks["target"]["message"]
    assert "'churned'" in checks["target"]["message"]
    assert "['monthly_charges']" in checks["features"]["message"]
    assert message.startswith("Model charges/1 cannot replace churn/1")


def test_validate_fails_for_another_feature_set(deployment: Deployment, models: RegisteredModels) -> None:
    status, _message, checks = deployment.validate_replacement_model(models.churn_small)
    assert status == "failing"
    assert _failing(checks) == {"features"}
    assert checks["features"]["message"] == (
        "features differ: missing from the new model ['internet_service', 'support_calls'], new in it []"
    )


@pytest.mark.parametrize(
    ("model_id", "explained"),
    [
        ("churn/99", "is not in the MLflow registry"),
        ("churn-latest", "expected '<registered model name>/<version>'"),
        ("untagged/1", "lacks the registry tags"),
    ],
)
def test_validate_fails_for_a_model_that_cannot_be_deployed(
    deployment: Deployment, models: RegisteredModels, model_id: str, explained: str
) -> None:
    status, message, checks = deployment.validate_replacement_model(model_id)
    assert status == "failing"
    assert list(checks) == ["permission", "modelCanBeDeployed"]
    assert checks["modelCanBeDeployed"]["status"] == "failing"
    assert explained in checks["modelCanBeDeployed"]["message"]
    assert repr(model_id) in message and explained in message


# ---- replace_model -----------------------------------------------------------------------------


def _state(d: Deployment) -> tuple[str, int, str]:
    """What a replacement changes: the served model, the history's length, the MLflow alias."""
    fresh = Deployment.get(d.id)
    return fresh.model["id"], len(fresh.get_model_history()), _alias_version("churn", d.id)


def test_replace_refuses_an_unknown_reason_and_changes_nothing(
    deployment: Deployment, models: RegisteredModels
) -> None:
    before = _state(deployment)
    with pytest.raises(ValueError) as info:
        deployment.replace_model(models.churn_v2, "BORED")
    message = str(info.value)
    assert "reason='BORED' is not valid" in message
    for reason in MODEL_REPLACEMENT_REASON:
        assert repr(reason.value) in message
    assert _state(deployment) == before
    assert deployment.model["id"] == "churn/1"


@pytest.mark.parametrize("attr", ["churn_v1", "charges", "churn_small", "untagged"])
def test_replace_refuses_a_failing_model_and_changes_nothing(
    deployment: Deployment, models: RegisteredModels, attr: str
) -> None:
    new_model_id = getattr(models, attr)
    expected = deployment.validate_replacement_model(new_model_id)[1]
    before = _state(deployment)
    with pytest.raises(ValueError) as info:
        deployment.replace_model(new_model_id, "ACCURACY")
    assert str(info.value).startswith(expected)
    assert _state(deployment) == before
    assert deployment.model["id"] == "churn/1"
    assert deployment.get_baseline() == {"version": "one"}


def test_replace_moves_the_model_and_records_why(deployment: Deployment, models: RegisteredModels) -> None:
    _set_drift_health(deployment.id, "failing", "3 features drifted")
    assert Deployment.get(deployment.id).model_health["status"] == "failing"
    updated_before = deployment.updated_at

    deployment.replace_model(
        f"models:/{models.churn_v2}",
        MODEL_REPLACEMENT_REASON.DATA_DRIFT,
        baseline={"version": "two"},
        actor="retrain-dag",
        details={"dag_run_id": "manual__1", "evidence": {"psi": {"tenure_months": 0.4}}},
    )

    for d in (deployment, Deployment.get(deployment.id)):
        assert d.model["id"] == "churn/2"
        assert d.model["version"] == "2"
        assert d.model_health["status"] == "unknown"
        assert "churn/2" in d.model_health["message"] and "DATA_DRIFT" in d.model_health["message"]
        assert d.updated_at > updated_before
    history = deployment.get_model_history()
    assert [h["reason"] for h in history] == ["INITIAL", "DATA_DRIFT"]
    assert {k: v for k, v in history[1].items() if k != "timestamp"} == {
        "old_model_version": "1",
        "new_model_version": "2",
        "reason": "DATA_DRIFT",
        "actor": "retrain-dag",
        "details": {
            "model_id": "churn/2",
            "dag_run_id": "manual__1",
            "evidence": {"psi": {"tenure_months": 0.4}},
        },
    }
    assert deployment.get_baseline() == {"version": "two"}
    assert deployment.get_baseline("1") == {"version": "one"}
    assert _alias_version("churn", deployment.id) == "2"

    # And back again: the history chains old to new.
    deployment.replace_model(models.churn_v1, "OTHER", actor="bob")
    assert [(h["old_model_version"], h["new_model_version"]) for h in deployment.get_model_history()] == [
        (None, "1"),
        ("1", "2"),
        ("2", "1"),
    ]
    assert _alias_version("churn", deployment.id) == "1"


def test_replace_is_atomic_when_the_store_transaction_fails(
    deployment: Deployment, models: RegisteredModels
) -> None:
    before = _state(deployment)
    health_before = Deployment.get(deployment.id).model_health
    unserialisable: dict[str, Any] = {"x": object()}
    with pytest.raises(StatementError, match="not JSON serializable"):
        deployment.replace_model(models.churn_v2, "ACCURACY", baseline=unserialisable)
    assert _state(deployment) == before
    assert deployment.model["id"] == "churn/1"
    fresh = Deployment.get(deployment.id)
    assert fresh.model["id"] == "churn/1"
    assert fresh.model_health == health_before
    assert fresh.get_baseline("2") is None
    assert fresh.get_model_history()[-1]["reason"] == "INITIAL"

    # The failed attempt leaves nothing behind that blocks a good one.
    deployment.replace_model(models.churn_v2, "ACCURACY")
    assert _state(deployment) == ("churn/2", 2, "2")


def test_replace_of_a_deleted_deployment(deployment: Deployment, models: RegisteredModels) -> None:
    with session_scope(get_settings().store_url) as session:
        session.delete(session.get(DeploymentRow, deployment.id))
    with pytest.raises(DeploymentNotFound, match=deployment.id):
        deployment.replace_model(models.churn_v2, "OTHER")
