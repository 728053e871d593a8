"""The Deployment Python API beyond create/replace: update, status, delete, list, sharing, settings, audit.

Real MLflow registry (the session's registered models) and a real SQLite store per test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sqlalchemy import func, select

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import (
    ORDER_FIELDS,
    Deployment,
    DeploymentListFilters,
    DeploymentNotFound,
    SettingsError,
    audit_log,
)
from airflow_mlops.monitoring.drift import drift_metric_names
from airflow_mlops.monitoring.health import DriftHealthSettings
from airflow_mlops.prediction_log import PredictionLogWriter, list_log_files
from airflow_mlops.security import PermissionDenied, Principal, role_of, roles_of
from airflow_mlops.services import drift_health_settings
from airflow_mlops.store import BaselineRow, HealthRow, ModelHistoryRow, session_scope
from airflow_mlops.store.tables import AuditRow, DeploymentRoleRow

if TYPE_CHECKING:
    from conftest import RegisteredModels

IMPORTANCES = ("'CRITICAL'", "'HIGH'", "'MODERATE'", "'LOW'")


@pytest.fixture
def deployment(models: RegisteredModels) -> Deployment:
    return Deployment.create_from_registered_model_version(
        models.churn_v1, "Churn EU", actor="alice", baseline={"v": 1}, owners=["alice"]
    )


@pytest.fixture
def regression(models: RegisteredModels) -> Deployment:
    return Deployment.create_from_registered_model_version(models.charges, "Charges", actor="alice")


def _health(deployment_id: str, kind: str, status: str) -> None:
    now = datetime.now(UTC)
    with session_scope(get_settings().store_url) as session:
        session.add(
            HealthRow(
                deployment_id=deployment_id,
                kind=kind,
                status=status,
                message=status,
                window_start=now,
                window_end=now,
                details={},
                evaluated_at=now,
            )
        )


def _last_audit(d: Deployment) -> dict[str, Any]:
    return d.get_audit_log()[-1]


def _rows(table: Any, deployment_id: str) -> int:
    with session_scope(get_settings().store_url) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(table).where(table.deployment_id == deployment_id)
            )
            or 0
        )


# ---- update / status --------------------------------------------------------------------------------


def test_update_changes_only_what_is_given_and_audits_it(deployment: Deployment) -> None:
    created_updated_at = deployment.updated_at
    deployment.update(description="weekly scores", actor="bob")
    assert (deployment.label, deployment.description, deployment.importance) == (
        "Churn EU",
        "weekly scores",
        None,
    )
    deployment.update(label="  Churn Europe ", importance="HIGH", actor="carol")
    fresh = Deployment.get(deployment.id)
    assert (fresh.label, fresh.description, fresh.importance) == ("Churn Europe", "weekly scores", "HIGH")
    assert fresh.updated_at > created_updated_at

    entries = deployment.get_audit_log()
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("create", "alice"),
        ("update", "bob"),
        ("update", "carol"),
    ]
    last = entries[-1]
    assert (last["before"]["label"], last["after"]["label"]) == ("Churn EU", "Churn Europe")
    assert (last["before"]["importance"], last["after"]["importance"]) == (None, "HIGH")
    assert last["before"]["description"] == last["after"]["description"] == "weekly scores"


def test_update_refuses_bad_values_and_changes_nothing(deployment: Deployment) -> None:
    with pytest.raises(ValueError) as info:
        deployment.update(importance="URGENT")
    assert "importance='URGENT' is not valid" in str(info.value)
    for value in IMPORTANCES:
        assert value in str(info.value)
    with pytest.raises(ValueError, match="label must be a non-empty string"):
        deployment.update(label="   ")
    assert Deployment.get(deployment.id).label == "Churn EU"
    assert [e["action"] for e in deployment.get_audit_log()] == ["create"]


def test_deactivate_and_activate(deployment: Deployment, models: RegisteredModels) -> None:
    other = Deployment.create_from_registered_model_version(models.churn_v2, "Other")
    deployment.deactivate(actor="ops")
    assert deployment.status == Deployment.get(deployment.id).status == "inactive"
    assert [d.id for d in Deployment.list(status="inactive")] == [deployment.id]
    assert [d.id for d in Deployment.list(status="active")] == [other.id]
    deployment.activate(actor="ops")
    assert Deployment.get(deployment.id).status == "active"
    actions = [
        (e["action"], e["before"]["status"], e["after"]["status"]) for e in deployment.get_audit_log()[1:]
    ]
    assert actions == [("deactivate", "active", "inactive"), ("activate", "inactive", "active")]
    # Replacing the model of an inactive deployment is allowed; it stays inactive.
    deployment.deactivate()
    deployment.replace_model(models.churn_v2, "OTHER")
    assert (deployment.status, deployment.model["id"]) == ("inactive", "churn/2")


# ---- delete ---------------------------------------------------------------------------------------------


def test_delete_removes_history_baselines_roles_and_alias_but_keeps_the_audit(
    deployment: Deployment, models: RegisteredModels
) -> None:
    deployment.share("bob", "USER", actor="alice")
    deployment.replace_model(models.churn_v2, "ACCURACY", baseline={"v": 2}, actor="alice")
    _health(deployment.id, "service", "passing")
    client = MlflowClient(tracking_uri=models.tracking_uri, registry_uri=models.tracking_uri)
    alias = f"deployment-{deployment.id}"
    assert str(client.get_model_version_by_alias("churn", alias).version) == "2"
    for table in (ModelHistoryRow, BaselineRow, HealthRow, DeploymentRoleRow):
        assert _rows(table, deployment.id) > 0, table.__name__

    deployment.delete(actor="alice")

    assert deployment.status == "deleted"
    with pytest.raises(DeploymentNotFound, match=deployment.id):
        Deployment.get(deployment.id)
    for table in (ModelHistoryRow, BaselineRow, HealthRow, DeploymentRoleRow):
        assert _rows(table, deployment.id) == 0, table.__name__
    assert Deployment.list() == []
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("churn", alias)
    # The registered versions themselves are untouched.
    assert str(client.get_model_version("churn", "2").version) == "2"

    trail = audit_log(deployment.id)
    assert [e["action"] for e in trail] == ["create", "share", "replace", "delete"]
    assert trail[-1]["actor"] == "alice"
    assert trail[-1]["before"]["model_id"] == "churn/2" and trail[-1]["after"] is None
    assert _rows(AuditRow, deployment.id) == 4

    with pytest.raises(DeploymentNotFound):
        deployment.delete()
    assert role_of(get_settings().store_url, deployment.id, Principal("bob")) is None


# ---- list ------------------------------------------------------------------------------------------


def test_list_order_by_each_field_and_bad_order_by(models: RegisteredModels) -> None:
    a = Deployment.create_from_registered_model_version(models.churn_v1, "alpha", importance="LOW")
    b = Deployment.create_from_registered_model_version(models.churn_v1, "Bravo", importance="CRITICAL")
    c = Deployment.create_from_registered_model_version(models.churn_v1, "charlie")
    _health(a.id, "drift", "warning")
    _health(b.id, "drift", "failing")
    _health(c.id, "accuracy", "passing")
    _health(a.id, "accuracy", "failing")

    def labels(order_by: str) -> list[str]:
        return [d.label for d in Deployment.list(order_by=order_by)]

    assert labels("label") == ["alpha", "Bravo", "charlie"]
    assert labels("-label") == ["charlie", "Bravo", "alpha"]
    assert labels("-importance") == ["Bravo", "alpha", "charlie"]
    assert labels("importance") == ["charlie", "alpha", "Bravo"]
    assert labels("-modelHealth") == ["Bravo", "alpha", "charlie"]
    assert labels("-accuracyHealth") == ["alpha", "charlie", "Bravo"]
    assert labels("createdAt") == ["alpha", "Bravo", "charlie"]
    b.update(description="touched")
    assert labels("-updatedAt")[0] == "Bravo"

    with pytest.raises(ValueError) as info:
        Deployment.list(order_by="-colour")
    message = str(info.value)
    assert "order_by='-colour' is not valid" in message
    for name in ORDER_FIELDS:
        assert repr(name) in message


def test_list_filters(models: RegisteredModels) -> None:
    url = get_settings().store_url
    mine = Deployment.create_from_registered_model_version(
        models.churn_v1, "mine", importance="HIGH", owners=["alice"]
    )
    shared = Deployment.create_from_registered_model_version(models.churn_v1, "shared", owners=["bob"])
    shared.share("alice", "CONSUMER")
    Deployment.create_from_registered_model_version(models.churn_v1, "bobs", owners=["bob"], importance="LOW")
    _health(mine.id, "service", "failing")
    alice = Principal("alice")

    def labels(**kwargs: Any) -> list[str]:
        return [d.label for d in Deployment.list(**kwargs)]

    assert labels() == ["bobs", "mine", "shared"]  # a trusted caller sees everything
    assert labels(principal=alice) == ["mine", "shared"]
    assert labels(principal=Principal("root", is_admin=True)) == ["bobs", "mine", "shared"]
    assert labels(principal=alice, filters=DeploymentListFilters(role=["OWNER"])) == ["mine"]
    assert labels(principal=alice, filters=DeploymentListFilters(role=["CONSUMER", "USER"])) == ["shared"]
    assert labels(principal=Principal("nobody")) == []
    assert labels(filters=DeploymentListFilters(importance=["LOW", "HIGH"])) == ["bobs", "mine"]
    assert labels(filters=DeploymentListFilters(service_health=["failing"])) == ["mine"]
    assert labels(filters=DeploymentListFilters(service_health=["unknown"], importance=["HIGH"])) == []
    assert labels(filters=DeploymentListFilters(model_health=["unknown"])) == ["bobs", "mine", "shared"]
    assert roles_of(url, alice) == {mine.id: "OWNER", shared.id: "CONSUMER"}

    with pytest.raises(ValueError, match=r"filters\.role needs a principal"):
        Deployment.list(filters=DeploymentListFilters(role=["OWNER"]))
    for kwargs, says in (
        ({"role": ["ADMIN"]}, ("filters.role='ADMIN'", "'OWNER'", "'USER'", "'CONSUMER'")),
        ({"importance": ["urgent"]}, ("filters.importance='urgent'", *IMPORTANCES)),
        ({"service_health": ["great"]}, ("filters.service_health='great'", "'passing'", "'failing'")),
        ({"accuracy_health": ["bad"]}, ("filters.accuracy_health='bad'", "'warning'")),
    ):
        with pytest.raises(ValueError) as info:
            DeploymentListFilters(**kwargs)
        for part in says:
            assert part in str(info.value), (kwargs, str(info.value))


# ---- sharing -------------------------------------------------------------------------------------------


def test_share_and_unshare(deployment: Deployment) -> None:
    url = get_settings().store_url
    deployment.share("bob", "USER", actor="alice")
    deployment.share("carol", "CONSUMER", actor="alice")
    assert deployment.list_shared_roles() == [
        {"username": "alice", "role": "OWNER"},
        {"username": "bob", "role": "USER"},
        {"username": "carol", "role": "CONSUMER"},
    ]
    assert role_of(url, deployment.id, Principal("bob")) == "USER"
    deployment.share("bob", "OWNER", actor="alice")  # replaces the old role
    assert role_of(url, deployment.id, Principal("bob")) == "OWNER"
    deployment.unshare("carol", actor="bob")
    assert role_of(url, deployment.id, Principal("carol")) is None
    assert [r["username"] for r in deployment.list_shared_roles()] == ["alice", "bob"]

    shares = [
        (e["actor"], e["before"], e["after"]) for e in deployment.get_audit_log() if e["action"] == "share"
    ]
    assert shares == [
        ("alice", None, {"user": "bob", "role": "USER"}),
        ("alice", None, {"user": "carol", "role": "CONSUMER"}),
        ("alice", {"user": "bob", "role": "USER"}, {"user": "bob", "role": "OWNER"}),
        ("bob", {"user": "carol", "role": "CONSUMER"}, None),
    ]

    with pytest.raises(ValueError) as info:
        deployment.share("dave", "ADMIN")
    assert "role='ADMIN' is not valid" in str(info.value) and "'CONSUMER'" in str(info.value)
    with pytest.raises(ValueError, match="user must be a non-empty name"):
        deployment.share("  ", "USER")
    with pytest.raises(LookupError, match="'dave' has no role"):
        deployment.unshare("dave")
    assert len(deployment.get_audit_log()) == 5


# ---- settings: each section ----------------------------------------------------------------------------


def test_drift_tracking_settings(deployment: Deployment) -> None:
    assert deployment.get_drift_tracking_settings() == {
        "target_drift": {"enabled": True},
        "feature_drift": {"enabled": True},
    }
    after = deployment.update_drift_tracking_settings(target_drift_enabled=False, actor="alice")
    assert after == {"target_drift": {"enabled": False}, "feature_drift": {"enabled": True}}
    assert Deployment.get(deployment.id).get_drift_tracking_settings() == after
    entry = _last_audit(deployment)
    assert (entry["action"], entry["actor"]) == ("settings.drift_tracking", "alice")
    assert entry["before"]["settings"]["drift_tracking"]["target_drift"] == {"enabled": True}
    assert entry["after"]["settings"]["drift_tracking"]["target_drift"] == {"enabled": False}
    with pytest.raises(
        SettingsError,
        match=r"drift_tracking\.feature_drift\.enabled: Input should be a valid boolean, got 'no'",
    ):
        deployment.update_drift_tracking_settings(feature_drift_enabled="no")  # type: ignore[arg-type]
    assert Deployment.get(deployment.id).get_drift_tracking_settings() == after


def test_association_id_settings(deployment: Deployment) -> None:
    assert deployment.get_association_id_settings() == {
        "column_names": [],
        "required_in_prediction_requests": False,
    }
    with pytest.raises(SettingsError, match="needs a column in column_names"):
        deployment.update_association_id_settings(required_in_prediction_requests=True)
    with pytest.raises(
        SettingsError, match=r"association_id\.column_names: .*at most 1 item.*got \['a', 'b'\]"
    ):
        deployment.update_association_id_settings(column_names=["a", "b"])
    with pytest.raises(
        SettingsError, match=r"association_id\.column_names\.0: .*at least 1 character, got ''"
    ):
        deployment.update_association_id_settings(column_names=[""])
    after = deployment.update_association_id_settings(
        column_names=["customer_id"], required_in_prediction_requests=True
    )
    assert after == {"column_names": ["customer_id"], "required_in_prediction_requests": True}
    entry = _last_audit(deployment)
    assert entry["action"] == "settings.association_id"
    assert entry["before"]["settings"]["association_id"]["column_names"] == []
    assert entry["after"]["settings"]["association_id"]["column_names"] == ["customer_id"]


def test_association_id_is_frozen_once_a_prediction_log_file_exists(deployment: Deployment) -> None:
    deployment.update_association_id_settings(column_names=["customer_id"])
    deployment.update_association_id_settings(column_names=["order_id"])  # free to change before predictions
    root = get_settings().prediction_log_dir
    with PredictionLogWriter(root) as writer:
        writer.append(
            deployment.id,
            [
                {
                    "timestamp": datetime.now(UTC),
                    "association_id": "o-1",
                    "model_version": "1",
                    "prediction": 0.3,
                    "status_code": 200,
                    "latency_ms": 2.0,
                    "features": {"tenure_months": 3},
                }
            ],
        )
    assert list_log_files(root, deployment.id)

    audit_before = len(deployment.get_audit_log())
    with pytest.raises(SettingsError, match="cannot change once the deployment has served predictions"):
        deployment.update_association_id_settings(column_names=["customer_id"])
    with pytest.raises(SettingsError, match="cannot change once the deployment has served predictions"):
        deployment.update_settings({"association_id": {"column_names": []}})
    assert Deployment.get(deployment.id).get_association_id_settings()["column_names"] == ["order_id"]
    assert len(deployment.get_audit_log()) == audit_before
    # The same column, or the other flag, may still be set.
    deployment.update_association_id_settings(column_names=["order_id"], required_in_prediction_requests=True)
    assert deployment.get_association_id_settings()["required_in_prediction_requests"] is True


def test_predictions_data_collection_settings(deployment: Deployment) -> None:
    assert deployment.get_predictions_data_collection_settings() == {"enabled": True}
    assert deployment.update_predictions_data_collection_settings(False, actor="alice") == {"enabled": False}
    assert Deployment.get(deployment.id).get_predictions_data_collection_settings() == {"enabled": False}
    assert _last_audit(deployment)["action"] == "settings.predictions_data_collection"
    with pytest.raises(
        SettingsError, match=r"predictions_data_collection\.enabled: .*valid boolean, got 'off'"
    ):
        deployment.update_predictions_data_collection_settings("off")  # type: ignore[arg-type]


def test_prediction_warning_is_for_regression_only(deployment: Deployment, regression: Deployment) -> None:
    with pytest.raises(SettingsError) as info:
        deployment.update_prediction_warning_settings(True)
    assert str(info.value) == "prediction warnings are for regression deployments only; this one is Binary"
    assert deployment.get_prediction_warning_settings() == {"enabled": False, "custom_boundaries": None}

    after = regression.update_prediction_warning_settings(
        True, lower_boundary=10.5, upper_boundary=120, actor="alice"
    )
    assert after == {"enabled": True, "custom_boundaries": {"lower": 10.5, "upper": 120}}
    assert Deployment.get(regression.id).get_prediction_warning_settings() == after
    entry = _last_audit(regression)
    assert entry["action"] == "settings.prediction_warning"
    assert entry["before"]["settings"]["prediction_warning"]["custom_boundaries"] is None

    for lower, upper in ((5, 5), (50, 10)):
        with pytest.raises(SettingsError, match=r"lower \(.*\) must be below upper"):
            regression.update_prediction_warning_settings(True, lower_boundary=lower, upper_boundary=upper)
    with pytest.raises(
        SettingsError, match=r"custom_boundaries\.upper: Input should be a valid number, got None"
    ):
        regression.update_prediction_warning_settings(True, lower_boundary=1)
    assert Deployment.get(regression.id).get_prediction_warning_settings() == after

    back = regression.update_prediction_warning_settings(True, use_default_boundaries=True)
    assert back == {"enabled": True, "custom_boundaries": None}


def test_health_settings_validation_lists_the_allowed_values(
    deployment: Deployment, models: RegisteredModels
) -> None:
    cases: list[tuple[dict[str, Any], tuple[str, ...]]] = [
        (
            {"data_drift": {"metric": "vibes"}},
            ("health.data_drift.metric: ", "got 'vibes'", *map(repr, drift_metric_names())),
        ),
        (
            {"accuracy": {"measurement": "ratio"}},
            ("health.accuracy.measurement: Input should be 'percent' or 'value', got 'ratio'",),
        ),
        (
            {"data_drift": {"time_interval": "weekly"}},
            ("health.data_drift.time_interval: ", "P7D", "PT12H", "got 'weekly'"),
        ),
        (
            {"data_drift": {"excluded_features": ["shoe_size"]}},
            ("['shoe_size'] are not features", *models.features),
        ),
        (
            {"data_drift": {"colour": 1}},
            ("health.data_drift: unknown field 'colour'; valid fields: [", "'drift_threshold'", "'metric'"),
        ),
        (
            {"service": {"batch_count": 0}},
            ("health.service.batch_count: ", "greater than or equal to 1, got 0"),
        ),
        (
            {"data_drift": {"drift_threshold": -0.1}},
            ("health.data_drift.drift_threshold: ", "greater than or equal to 0, got -0.1"),
        ),
        (
            {"data_drift": {"low_importance_failing_count": 1.5}},
            ("health.data_drift.low_importance_failing_count: ", "valid integer", "got 1.5"),
        ),
        ({"data_drift": {"high_importance_failing_count": 0}}, ("greater than or equal to 1, got 0",)),
        ({"accuracy": {"warning_threshold": 0.5}}, ("must not exceed failing_threshold (0.2)",)),
        ({"service": {"slow_warning": 0.5}}, ("health.service: slow_warning (0.5) must not exceed",)),
    ]
    before = deployment.get_health_settings()
    for patch, says in cases:
        with pytest.raises(SettingsError) as info:
            deployment.update_health_settings(**patch)
        for part in says:
            assert part in str(info.value), (patch, str(info.value))
    assert Deployment.get(deployment.id).get_health_settings() == before
    assert [e["action"] for e in deployment.get_audit_log()] == ["create"]


def test_health_settings_feed_the_drift_health_rule(deployment: Deployment) -> None:
    assert drift_health_settings(deployment.settings) == DriftHealthSettings()
    after = deployment.update_health_settings(
        data_drift={
            "drift_threshold": 0.3,
            "metric": "hellinger",
            "high_importance_failing_count": 2,
            "low_importance_failing_count": 3,
            "excluded_features": ["tenure_months"],
            "starred_features": ["contract"],
            "time_interval": "PT12H",
        },
        service={"batch_count": 2},
        actor="alice",
    )
    assert after["data_drift"]["metric"] == "hellinger"
    assert after["service"]["batch_count"] == 2
    assert after["service"]["server_error_failing"] == 0.05  # the untouched thresholds keep their defaults
    rule = drift_health_settings(Deployment.get(deployment.id).settings)
    assert rule == DriftHealthSettings(
        drift_threshold=0.3,
        metric="hellinger",
        high_importance_failing_count=2,
        low_importance_failing_count=3,
        excluded_features=["tenure_months"],
    )
    entry = _last_audit(deployment)
    assert (entry["action"], entry["actor"]) == ("settings.health", "alice")
    assert entry["before"]["settings"]["health"]["data_drift"]["metric"] == "psi"
    assert entry["after"]["settings"]["health"]["data_drift"]["metric"] == "hellinger"
    # Accuracy settings are kept apart from the drift rule.
    deployment.update_health_settings(accuracy={"metric": "AUC", "warning_threshold": 0.05})
    assert deployment.get_health_settings()["accuracy"]["metric"] == "AUC"
    assert drift_health_settings(deployment.settings) == rule


def test_update_settings_is_all_or_nothing(deployment: Deployment) -> None:
    with pytest.raises(SettingsError, match=r"unknown settings section\(s\) \['health', 'weather'\]"):
        deployment.update_settings({"weather": {}, "health": {}})
    with pytest.raises(SettingsError, match="prediction warnings are for regression deployments only"):
        deployment.update_settings(
            {
                "drift_tracking": {"feature_drift": {"enabled": False}},
                "prediction_warning": {"enabled": True},
            }
        )
    assert Deployment.get(deployment.id).get_drift_tracking_settings()["feature_drift"] == {"enabled": True}
    with pytest.raises(SettingsError, match=r"retraining\.source: Input should be a valid string, got 3"):
        deployment.update_settings({"retraining": {"source": 3}})
    after = deployment.update_settings(
        {"drift_tracking": {"feature_drift": {"enabled": False}}, "retraining": {"source": "data.csv"}},
        actor="alice",
    )
    assert after["drift_tracking"]["feature_drift"] == {"enabled": False}
    assert after["retraining"]["source"] == "data.csv"
    assert after["retraining"]["cool_down"] == "P1D"  # the rest of the policy keeps its defaults
    assert [e["action"] for e in deployment.get_audit_log()] == ["create", "settings"]


# ---- replacement with a principal -------------------------------------------------------------------------


def test_replacement_permission_follows_the_callers_role(
    deployment: Deployment, models: RegisteredModels
) -> None:
    deployment.share("bob", "USER")
    status, _message, checks = deployment.validate_replacement_model(
        models.churn_v2, principal=Principal("bob")
    )
    assert status == "failing"
    assert checks["permission"] == {
        "status": "failing",
        "message": "bob is USER of this deployment; only an OWNER may replace its model",
    }
    stranger = deployment.validate_replacement_model(models.churn_v2, principal=Principal("eve"))[2]
    assert stranger["permission"]["message"].startswith("eve is not a member")
    with pytest.raises(PermissionDenied, match="only an OWNER"):
        deployment.replace_model(models.churn_v2, "ACCURACY", principal=Principal("bob"))
    assert Deployment.get(deployment.id).model["id"] == "churn/1"
    assert len(deployment.get_model_history()) == 1

    admin = deployment.validate_replacement_model(models.churn_v2, principal=Principal("root", is_admin=True))
    assert admin[2]["permission"]["status"] == "passing"
    deployment.replace_model(models.churn_v2, "ACCURACY", principal=Principal("alice"))
    history = deployment.get_model_history()
    assert (history[-1]["actor"], history[-1]["reason"]) == ("alice", "ACCURACY")
    assert (_last_audit(deployment)["action"], _last_audit(deployment)["actor"]) == ("replace", "alice")


def test_the_last_owner_cannot_leave(models: RegisteredModels) -> None:
    owned = Deployment.create_from_registered_model_version(models.churn_v1, "owned", owners=["alice"])
    with pytest.raises(ValueError, match="'alice' is the last OWNER"):
        owned.unshare("alice")
    with pytest.raises(ValueError, match="'alice' is the last OWNER"):
        owned.share("alice", "USER")
    assert owned.list_shared_roles() == [{"username": "alice", "role": "OWNER"}]
    owned.share("bob", "OWNER")
    owned.share("alice", "USER")  # bob still owns it
    owned.unshare("alice")
    assert owned.list_shared_roles() == [{"username": "bob", "role": "OWNER"}]
