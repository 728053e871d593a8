"""The official ``datarobot`` client's deployment calls, unchanged, against our server.

Every call goes through ``datarobot`` 3.20 (its REST client, trafaret converters
and async polling) to a real uvicorn server; every result is compared with what
our own Python API (:class:`airflow_mlops.deployments.Deployment`) says of the
same deployment. Each test has its own user, so its lists hold only its own
deployments.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datarobot as dr
import pytest
from datarobot.enums import MODEL_REPLACEMENT_REASON
from datarobot.errors import ClientError
from datarobot.models.deployment import DeploymentListFilters

from airflow_mlops.deployments import Deployment
from airflow_mlops.deployments import DeploymentListFilters as OurFilters
from airflow_mlops.enums import DEPLOYMENT_ROLE
from airflow_mlops.security import Principal, permissions
from airflow_mlops.store import ServiceBucketRow, session_scope

if TYPE_CHECKING:
    from conftest import LiveServer


@pytest.fixture
def user(server: LiveServer) -> Iterator[str]:
    """A user of this test only, connected as the official client's global client."""
    name = f"dora-{uuid.uuid4().hex[:8]}"
    dr.Client(token=server.token(name), endpoint=f"{server.url}/api/v2")
    yield name


def _ours(server: LiveServer, deployment_id: str) -> Deployment:
    return Deployment.get(deployment_id, store_url=server.settings.store_url)


def _assert_same(theirs: dr.Deployment, ours: Deployment, server: LiveServer) -> None:
    """The client's view of a deployment is our Python API's, field by field."""
    assert theirs.id == ours.id
    assert theirs.label == ours.label
    assert theirs.description == ours.description
    assert theirs.status == ours.status
    assert theirs.importance == ours.importance
    assert theirs.model is not None and theirs.model_package is not None
    assert theirs.model["id"] == ours.model["id"]
    assert theirs.model["target_name"] == ours.model["target_name"]
    assert theirs.model["type"] == "MLflow registered model version"
    name, version = ours.model["id"].split("/")
    assert theirs.model_package == {"id": ours.model["id"], "name": name, "registered_model_id": name}
    assert ours.model["version"] == version
    for kind in ("service_health", "model_health", "accuracy_health"):
        health = getattr(theirs, kind)
        assert health["status"] == getattr(ours, kind)["status"], kind
        assert health.get("message") == getattr(ours, kind)["message"], kind
    assert theirs.default_prediction_server == {"id": "default", "url": server.url, "datarobot-key": ""}


# ---- get, list -----------------------------------------------------------------------------------


def test_get_is_what_the_python_api_says(server: LiveServer, user: str) -> None:
    made = server.deploy(owner=user, description="churn, the first", importance="HIGH")
    theirs = dr.Deployment.get(made.id)
    _assert_same(theirs, _ours(server, made.id), server)
    assert theirs.permissions == permissions(DEPLOYMENT_ROLE.OWNER)  # our action names, not DataRobot's


def test_list_filters_search_order_and_paging_match_the_python_api(server: LiveServer, user: str) -> None:
    tag = uuid.uuid4().hex[:6]
    made = [
        server.deploy(label=f"{tag} alpha", owner=user, importance="LOW"),
        server.deploy(label=f"{tag} beta", owner=user, importance="CRITICAL"),
        server.deploy(label=f"{tag} gamma", owner="someone-else", shares={user: "USER"}),
        server.deploy(label=f"{tag} delta", owner="someone-else"),  # not the user's: never listed
    ]
    me = Principal(user)
    store = server.settings.store_url

    def ours(**kwargs: Any) -> list[str]:
        return [d.id for d in Deployment.list(principal=me, store_url=store, **kwargs)]

    def theirs(**kwargs: Any) -> list[str]:
        return [d.id for d in dr.Deployment.list(**kwargs)]

    assert theirs() == ours() == [made[0].id, made[1].id, made[2].id]
    assert theirs(order_by="-label") == ours(order_by="-label") == [made[2].id, made[1].id, made[0].id]
    assert theirs(search="BETA") == ours(search="BETA") == [made[1].id]
    owner_only = DeploymentListFilters(role="OWNER")
    assert theirs(filters=owner_only) == ours(filters=OurFilters(role=["OWNER"])) == [made[0].id, made[1].id]
    important = DeploymentListFilters(importance=["CRITICAL", "HIGH"])
    assert theirs(filters=important) == ours(filters=OurFilters(importance=["CRITICAL", "HIGH"]))
    assert theirs(filters=important) == [made[1].id]
    for field in ("service_health", "model_health", "accuracy_health"):
        wanted = ["unknown", "passing"]
        got = theirs(filters=DeploymentListFilters(**{field: wanted}))
        assert got == ours(filters=OurFilters(**{field: wanted})), field
        assert set(got) == {m.id for m in made[:3]}, field
        assert theirs(filters=DeploymentListFilters(**{field: ["failing"]})) == [], field
    for order in ("serviceHealth", "-accuracyHealth"):
        assert theirs(order_by=order) == ours(order_by=order), order
    # DataRobot's usage orders, over folded prediction counts: alpha 5 two hours ago, gamma 20 a day ago.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with session_scope(store) as session:
        for deployment, count, at in (
            (made[0], 5, hour - timedelta(hours=2)),
            (made[2], 20, hour - timedelta(days=1)),
        ):
            session.add(
                ServiceBucketRow(
                    deployment_id=deployment.id, model_version="1", hour=at, predictions=count, requests=1
                )
            )
    by_usage = {
        "-recentPredictions": [made[2].id, made[0].id, made[1].id],
        "recentPredictions": [made[1].id, made[0].id, made[2].id],
        "-lastPredictionTimestamp": [made[0].id, made[2].id, made[1].id],
        "lastPredictionTimestamp": [made[1].id, made[2].id, made[0].id],
    }
    for order, expected in by_usage.items():
        assert theirs(order_by=order) == ours(order_by=order) == expected, order
    # One page at a time (the client's own limit/offset), and unpaginated through ``next`` links.
    assert theirs(limit=1, offset=1) == [made[1].id]
    assert theirs(limit=2, offset=2) == [made[2].id]


def test_list_answers_a_bad_filter_or_order_with_the_field_named(server: LiveServer, user: str) -> None:
    with pytest.raises(ClientError) as bad_health:
        dr.Deployment.list(filters=DeploymentListFilters(service_health=["sideways"]))
    assert bad_health.value.status_code == 422
    assert "filters.service_health" in str(bad_health.value) and "sideways" in str(bad_health.value)
    with pytest.raises(ClientError) as bad_role:
        dr.Deployment.list(filters=DeploymentListFilters(role="BOSS"))
    assert "filters.role" in str(bad_role.value) and "BOSS" in str(bad_role.value)
    with pytest.raises(ClientError) as bad_order:
        dr.Deployment.list(order_by="shoeSize")
    assert bad_order.value.status_code == 422 and "orderBy" in str(bad_order.value)


def test_list_refuses_filters_it_has_no_counterpart_for(server: LiveServer, user: str) -> None:
    made = server.deploy(owner=user)
    refused = {
        "executionEnvironmentType": DeploymentListFilters(execution_environment_type=["external"]),
        "tagKeys": DeploymentListFilters(tag_keys=["team"]),
        "tagValues": DeploymentListFilters(tag_values=["churn"]),
        "isA2AAgent": DeploymentListFilters(is_a2a_agent=True),
    }
    for name, filters in refused.items():
        with pytest.raises(ClientError) as error:
            dr.Deployment.list(filters=filters)
        assert error.value.status_code == 422, name
        assert error.value.json["message"].startswith(f"{name}: this filter is not supported"), name
    # "Not an agent" is every deployment here.
    assert [d.id for d in dr.Deployment.list(filters=DeploymentListFilters(is_a2a_agent=False))] == [made.id]


def test_unpaginated_lists_follow_our_next_links(server: LiveServer, user: str) -> None:
    from datarobot.utils.pagination import unpaginate

    made = [server.deploy(label=f"page {i}", owner=user) for i in range(3)]
    pages = unpaginate("deployments/", {"limit": 1}, dr.client.get_client())
    assert [d["id"] for d in pages] == [d.id for d in made]


def test_an_unknown_or_malformed_id_is_a_client_error_with_our_message(server: LiveServer, user: str) -> None:
    with pytest.raises(ClientError) as unknown:
        dr.Deployment.get("0" * 24)
    assert unknown.value.status_code == 404
    assert unknown.value.json["message"] == f"no deployment with id {'0' * 24!r}"
    with pytest.raises(ClientError) as malformed:
        dr.Deployment.get("not-an-id")
    assert malformed.value.status_code == 422 and "deployment_id" in malformed.value.json["message"]


# ---- create, update, status, delete --------------------------------------------------------------


def test_create_from_registered_model_version(server: LiveServer, user: str) -> None:
    theirs = dr.Deployment.create_from_registered_model_version(
        server.models.churn_v1,
        "from the client",
        description="made by datarobot",
        default_prediction_server_id="5a9f3c2d1e",
        importance="MODERATE",
    )
    ours = _ours(server, theirs.id)
    _assert_same(theirs, ours, server)
    assert (ours.label, ours.description, ours.importance) == (
        "from the client",
        "made by datarobot",
        "MODERATE",
    )
    assert ours.model["id"] == server.models.churn_v1
    assert (user, "OWNER") in {(r["username"], r["role"]) for r in ours.list_shared_roles()}


def test_create_from_an_unknown_model_package_names_the_field(server: LiveServer, user: str) -> None:
    with pytest.raises(ClientError) as unknown:
        dr.Deployment.create_from_registered_model_version("no-such-model/7", "nothing")
    assert unknown.value.status_code == 422
    assert unknown.value.json["message"].startswith("modelPackageId: ")
    with pytest.raises(ClientError) as extra:
        dr.Deployment.create_from_registered_model_version(
            server.models.churn_v1, "elsewhere", prediction_environment_id="65f0c0ffee"
        )
    assert extra.value.status_code == 422 and "predictionEnvironmentId" in extra.value.json["message"]


def _sweep_trial(server: LiveServer, name: str) -> str:
    """A real sweep's best trial (its MLflow run id), as ``AutoMLSweepOperator`` leaves it."""
    from airflow_mlops.automl import SweepConfig, run_sweep
    from airflow_mlops.datasets import ingest, log_snapshot_input

    settings = server.settings
    source = Path(settings.home) / f"{name}.csv"
    server.models.train.head(300).to_csv(source, index=False)
    snapshot = ingest(str(source), dataset=name, target="churned", snapshots_dir=settings.snapshots_dir)
    result = run_sweep(
        snapshot.train_frame(),
        SweepConfig(
            target="churned",
            families=["linear"],
            n_trials=2,
            cv_folds=2,
            ensemble=False,
            experiment_name=name,
        ),
    )
    log_snapshot_input(snapshot, run_id=result.parent_run_id, tracking_uri=settings.mlflow_tracking_uri)
    return str(result.leaderboard_records()[0]["run_id"])


def test_create_from_learning_model_deploys_a_real_sweep_trial(server: LiveServer, user: str) -> None:
    tag = uuid.uuid4().hex[:6]
    trial = _sweep_trial(server, f"dr-sweep-{tag}")
    label = f"Churn  from/trial {tag}"
    theirs = dr.Deployment.create_from_learning_model(
        trial,
        label,
        description="the sweep's best",
        default_prediction_server_id="5a9f3c2d1e",  # accepted and ignored: one prediction server
        importance="LOW",
    )
    ours = _ours(server, theirs.id)
    _assert_same(theirs, ours, server)
    # No registeredModelName from DataRobot's client: the label's, whitespace and '/' runs as '-'.
    assert ours.model["registered_model_name"] == f"Churn-from-trial-{tag}"
    assert theirs.model is not None and theirs.model["training_run_id"] != trial  # a refit of the trial
    assert theirs.model["sweep_parent_run_id"] == theirs.model["project_id"] != ""
    assert (ours.label, ours.description, ours.importance) == (label, "the sweep's best", "LOW")

    # DataRobot's status on creation: the same trial deployed again, inactive, under the same name.
    again = dr.Deployment.create_from_learning_model(trial, label, status="inactive")
    assert again.status == "inactive" == _ours(server, again.id).status
    assert _ours(server, again.id).model["registered_model_name"] == f"Churn-from-trial-{tag}"
    assert _ours(server, again.id).model["version"] == str(int(ours.model["version"]) + 1)
    with pytest.raises(ClientError) as threshold:
        dr.Deployment.create_from_learning_model(trial, label, prediction_threshold=0.3)
    assert threshold.value.status_code == 422 and "predictionThreshold" in threshold.value.json["message"]


def test_create_from_an_unknown_learning_model_names_the_field(server: LiveServer, user: str) -> None:
    trial = "f" * 32
    with pytest.raises(ClientError) as unknown:
        dr.Deployment.create_from_learning_model(
            trial, "no trial", description="x", default_prediction_server_id="5a9f3c2d1e"
        )
    assert unknown.value.status_code == 422
    assert unknown.value.json["message"].startswith("modelId: ")
    assert trial in unknown.value.json["message"]


def test_update_activate_deactivate_delete(server: LiveServer, user: str) -> None:
    made = server.deploy(owner=user)
    theirs = dr.Deployment.get(made.id)
    theirs.update(label="renamed by the client", description="now described", importance="CRITICAL")
    ours = _ours(server, made.id)
    assert (ours.label, ours.description, ours.importance) == (
        "renamed by the client",
        "now described",
        "CRITICAL",
    )
    _assert_same(dr.Deployment.get(made.id), ours, server)

    theirs.deactivate()
    assert theirs.status == "inactive" == _ours(server, made.id).status
    theirs.activate()
    assert theirs.status == "active" == _ours(server, made.id).status

    theirs.delete()
    with pytest.raises(ClientError) as gone:
        dr.Deployment.get(made.id)
    assert gone.value.status_code == 404
    assert [d.id for d in Deployment.list(store_url=server.settings.store_url) if d.id == made.id] == []


def test_a_user_may_not_update_and_hears_why(server: LiveServer, user: str) -> None:
    made = server.deploy(owner="someone-else", shares={user: "USER"})
    with pytest.raises(ClientError) as denied:
        dr.Deployment.get(made.id).update(label="mine now")
    assert denied.value.status_code == 403
    assert denied.value.json["message"]
    assert _ours(server, made.id).label == made.label


# ---- model replacement ---------------------------------------------------------------------------


def test_validate_and_replace_model_with_a_reason(server: LiveServer, user: str) -> None:
    made = server.deploy(owner=user)
    theirs = dr.Deployment.get(made.id)
    status, message, checks = theirs.validate_replacement_model(new_model_id=server.models.churn_v2)
    our_status, our_message, our_checks = _ours(server, made.id).validate_replacement_model(
        server.models.churn_v2, principal=Principal(user)
    )
    assert (status, message) == (our_status, our_message)
    assert status == "passing"
    assert set(checks) == {_snake(k) for k in our_checks}
    # A regression model cannot replace a binary one: failing, for the same reasons.
    status, message, checks = theirs.validate_replacement_model(
        new_registered_model_version_id=server.models.charges
    )
    assert (status, message) == _ours(server, made.id).validate_replacement_model(
        server.models.charges, principal=Principal(user)
    )[:2]
    assert status == "failing" and checks["target_type"]["status"] == "failing"

    theirs.replace_model(server.models.churn_v2, MODEL_REPLACEMENT_REASON.DATA_DRIFT)
    assert theirs.model is not None and theirs.model["id"] == server.models.churn_v2
    assert theirs.model_package is not None and theirs.model_package["id"] == server.models.churn_v2
    ours = _ours(server, made.id)
    assert ours.model["id"] == server.models.churn_v2
    _assert_same(dr.Deployment.get(made.id), ours, server)
    history = ours.get_model_history()
    # The history keeps versions of the deployment's registered model.
    assert [(h["new_model_version"], h["reason"], h["actor"]) for h in history][-1] == (
        server.models.churn_v2.split("/")[1],
        "DATA_DRIFT",
        user,
    )
    # The client has no model-history call; its REST client reads ours.
    page = dr.client.get_client().get(f"deployments/{made.id}/modelHistory/").json()
    assert [(h["newModelVersion"], h["reason"]) for h in page["data"]] == [
        (h["new_model_version"], h["reason"]) for h in history
    ]

    # DataRobot 3.4's call, by model package id: back to the first model.
    theirs.perform_model_replace(server.models.churn_v1, MODEL_REPLACEMENT_REASON.SCHEDULED_REFRESH)
    assert theirs.model_package is not None and theirs.model_package["id"] == server.models.churn_v1
    last = _ours(server, made.id).get_model_history()[-1]
    assert (last["new_model_version"], last["reason"]) == (
        server.models.churn_v1.split("/")[1],
        "SCHEDULED_REFRESH",
    )


def test_replacing_with_an_incompatible_model_is_refused_with_why(server: LiveServer, user: str) -> None:
    made = server.deploy(owner=user)
    with pytest.raises(ClientError) as refused:
        dr.Deployment.get(made.id).replace_model(server.models.charges, MODEL_REPLACEMENT_REASON.ACCURACY)
    assert refused.value.status_code == 422
    assert refused.value.json["message"].startswith("modelId: ")
    assert _ours(server, made.id).model["id"] == server.models.churn_v1


def _without_nulls(value: Any) -> Any:
    """``value`` as the client reads it: it drops keys whose value is null."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


# ---- settings ------------------------------------------------------------------------------------


def test_drift_association_collection_and_warning_settings(server: LiveServer, user: str) -> None:
    made = server.deploy(server.models.charges, owner=user)
    theirs = dr.Deployment.get(made.id)

    def ours() -> Deployment:
        return _ours(server, made.id)

    assert theirs.get_drift_tracking_settings() == ours().get_drift_tracking_settings()
    theirs.update_drift_tracking_settings(target_drift_enabled=False)
    assert ours().get_drift_tracking_settings() == {
        "target_drift": {"enabled": False},
        "feature_drift": {"enabled": True},
    }
    assert theirs.get_drift_tracking_settings() == ours().get_drift_tracking_settings()

    assert theirs.get_association_id_settings() == ours().get_association_id_settings()
    theirs.update_association_id_settings(column_names=["row_key"], required_in_prediction_requests=True)
    assert ours().get_association_id_settings() == {
        "column_names": ["row_key"],
        "required_in_prediction_requests": True,
    }
    assert theirs.get_association_id_settings() == ours().get_association_id_settings()

    assert theirs.get_predictions_data_collection_settings() == {"enabled": True}
    theirs.update_predictions_data_collection_settings(enabled=False)
    assert ours().get_predictions_data_collection_settings() == {"enabled": False}
    assert theirs.get_predictions_data_collection_settings() == {"enabled": False}

    theirs.update_prediction_warning_settings(
        prediction_warning_enabled=True,
        use_default_boundaries=False,
        lower_boundary=10.0,
        upper_boundary=90.0,
    )
    assert ours().get_prediction_warning_settings() == {
        "enabled": True,
        "custom_boundaries": {"lower": 10.0, "upper": 90.0},
    }
    assert theirs.get_prediction_warning_settings() == ours().get_prediction_warning_settings()
    theirs.update_prediction_warning_settings(prediction_warning_enabled=True, use_default_boundaries=True)
    assert ours().get_prediction_warning_settings() == {"enabled": True, "custom_boundaries": None}
    assert theirs.get_prediction_warning_settings() == {"enabled": True}  # the client drops nulls

    with pytest.raises(ClientError) as bad:
        theirs.update_prediction_warning_settings(
            prediction_warning_enabled=True,
            use_default_boundaries=False,
            lower_boundary=9.0,
            upper_boundary=1.0,
        )
    assert bad.value.status_code == 422 and "lower" in bad.value.json["message"]


def test_health_settings_and_their_defaults(server: LiveServer, user: str) -> None:
    made = server.deploy(owner=user)
    theirs = dr.Deployment.get(made.id)
    assert theirs.get_health_settings() == _without_nulls(_ours(server, made.id).get_health_settings())
    # A new deployment's health settings (the client drops null values: "not set").
    assert theirs.get_default_health_settings() == _without_nulls(made.get_health_settings())

    service = dict(_ours(server, made.id).get_health_settings()["service"])
    key = next(k for k, v in service.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    answered = theirs.update_health_settings(service={**service, key: service[key] + 1})
    ours = _ours(server, made.id).get_health_settings()
    assert ours["service"][key] == service[key] + 1
    assert answered == _without_nulls(ours) == theirs.get_health_settings()

    with pytest.raises(ClientError) as unsupported:
        theirs.update_health_settings(fairness={"protectedClassWarningThreshold": 0.1})
    assert unsupported.value.status_code == 422 and "fairness" in unsupported.value.json["message"]


def test_settings_without_a_counterpart_read_as_off_and_refuse_to_turn_on(
    server: LiveServer, user: str
) -> None:
    made = server.deploy(owner=user)
    theirs = dr.Deployment.get(made.id)
    before = made.settings
    assert theirs.get_prediction_intervals_settings() == {"enabled": False, "percentiles": []}
    assert theirs.get_challenger_models_settings() == {"enabled": False}
    assert theirs.get_segment_analysis_settings() == {"enabled": False, "attributes": []}
    assert theirs.get_predictions_by_forecast_date_settings() == {"enabled": False}
    assert theirs.get_bias_and_fairness_settings() is None

    # Asking for the off state they are in is accepted and changes nothing.
    theirs.update_prediction_intervals_settings(percentiles=[], enabled=False)
    theirs.update_challenger_models_settings(challenger_models_enabled=False)
    theirs.update_segment_analysis_settings(segment_analysis_enabled=False)
    theirs.update_predictions_by_forecast_date_settings(enable_predictions_by_forecast_date=False)
    assert _ours(server, made.id).settings == before

    rest = dr.client.get_client()
    refusals = {
        "predictionIntervals": ({"enabled": True, "percentiles": [80]}, "prediction intervals"),
        "challengerModels": ({"enabled": True}, "challenger models"),
        "segmentAnalysis": ({"enabled": True, "attributes": ["plan"]}, "segment analysis"),
        "predictionsByForecastDate": ({"enabled": True}, "forecast date"),
    }
    for section, (body, concept) in refusals.items():
        with pytest.raises(ClientError) as refused:
            rest.patch(f"deployments/{made.id}/settings/", json={section: body})
        assert refused.value.status_code == 422, section
        assert refused.value.json["message"].startswith(f"{section}: "), section
        assert concept in refused.value.json["message"], section
    with pytest.raises(ClientError) as challengers:
        theirs.update_challenger_models_settings(challenger_models_enabled=True)
    assert "challenger models are not supported" in challengers.value.json["message"]
    with pytest.raises(ClientError) as segments:
        theirs.update_segment_analysis_settings(True, ["plan"])
    assert "segment analysis is not supported" in segments.value.json["message"]
    with pytest.raises(ClientError) as fairness:  # the client's path has a doubled slash
        theirs.update_bias_and_fairness_settings(["plan"], "equalParity", 0.8, "yes")
    assert fairness.value.status_code == 422  # supported now (test_api_fairness.py), but no such feature
    assert fairness.value.json["message"].startswith("bias_and_fairness.protected_features: ['plan']")
    assert _ours(server, made.id).settings == before


def test_challengers_segments_and_retraining_settings(server: LiveServer, user: str) -> None:
    made = server.deploy(owner=user)
    theirs = dr.Deployment.get(made.id)
    assert theirs.list_challengers() == []
    assert theirs.get_segment_attributes() == []
    assert theirs.get_challenger_replay_settings() == {"enabled": False}
    theirs.update_challenger_replay_settings(enabled=False)  # off, as it is: a no-op
    with pytest.raises(ClientError) as replay:
        theirs.update_challenger_replay_settings(enabled=True)
    assert replay.value.status_code == 422
    assert replay.value.json["message"].startswith("enabled: challenger replay is not supported")

    # Retraining settings: the dataset is our retraining policy's source.
    assert theirs.get_retraining_settings() == {}  # no source yet; no user, no environment
    theirs.update_retraining_settings(dataset_id="include/data/churn.csv")
    assert _ours(server, made.id).get_retraining_settings()["source"] == "include/data/churn.csv"
    assert theirs.get_retraining_settings() == {
        "dataset": {"id": "include/data/churn.csv", "name": "include/data/churn.csv"}
    }
    theirs.update_retraining_settings(dataset_id=None)
    assert _ours(server, made.id).get_retraining_settings()["source"] is None
    with pytest.raises(ClientError) as user_id:
        theirs.update_retraining_settings(retraining_user_id="5c939e08962d741e34f609f0")
    assert user_id.value.json["message"].startswith("retrainingUserId: retrains run as the mlops_retrain DAG")
    with pytest.raises(ClientError) as environment:
        theirs.update_retraining_settings(prediction_environment_id="5c939e08962d741e34f609f0")
    assert environment.value.json["message"].startswith("predictionEnvironmentId: prediction environments")
    assert _ours(server, made.id).get_retraining_settings()["source"] is None


def test_sharing_through_the_client(server: LiveServer, user: str) -> None:
    from datarobot.enums import SHARING_ROLE
    from datarobot.models.deployment import (
        DeploymentGrantSharedRoleWithId,
        DeploymentGrantSharedRoleWithUsername,
    )
    from datarobot.models.sharing import SharingRole

    made = server.deploy(owner=user)
    theirs = dr.Deployment.get(made.id)

    def listed() -> list[tuple[str, str]]:
        roles = theirs.list_shared_roles()
        assert all(r.share_recipient_type == "user" and len(r.id) == 24 for r in roles)
        return sorted((r.name, r.role) for r in roles)

    def ours() -> list[tuple[str, str]]:
        return sorted((r["username"], r["role"]) for r in _ours(server, made.id).list_shared_roles())

    assert listed() == ours() == [(user, "OWNER")]
    theirs.update_shared_roles([DeploymentGrantSharedRoleWithUsername(role="USER", username="bo")])
    theirs.share([SharingRole(role=SHARING_ROLE.CONSUMER, share_recipient_type="user", username="cy")])
    assert listed() == ours() == sorted([(user, "OWNER"), ("bo", "USER"), ("cy", "CONSUMER")])
    assert [r.name for r in theirs.list_shared_roles(name="bo")] == ["bo"]
    assert theirs.list_shared_roles(share_recipient_type="group") == []

    # By the id the list gave: promote bo, then take cy's role away.
    ids = {r.name: r.id for r in theirs.list_shared_roles()}
    theirs.update_shared_roles([DeploymentGrantSharedRoleWithId(id=ids["bo"], role="OWNER")])
    theirs.update_shared_roles([DeploymentGrantSharedRoleWithId(id=ids["cy"], role="NO_ROLE")])
    assert listed() == ours() == sorted([(user, "OWNER"), ("bo", "OWNER")])

    with pytest.raises(ClientError) as unknown:
        theirs.update_shared_roles([DeploymentGrantSharedRoleWithId(id="0" * 24, role="USER")])
    assert unknown.value.status_code == 422
    assert unknown.value.json["message"].startswith("roles.0.id: no user with id")
    with pytest.raises(ClientError) as group:
        theirs.update_shared_roles(
            [DeploymentGrantSharedRoleWithId(id="1" * 24, role="USER", share_recipient_type="group")]
        )
    assert group.value.status_code == 422 and "shareRecipientType" in group.value.json["message"]
