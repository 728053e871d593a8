"""The deployments REST API over real HTTP: shapes, paging, filters, changes, settings, sharing, audit.

One uvicorn server per module (``server`` in this directory's conftest); each
test makes its own deployments and, where it lists, its own user, so a user's
list holds only that test's deployments.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from airflow_mlops.api.schemas import recipient_id
from airflow_mlops.deployments import Deployment, audit_log
from airflow_mlops.store import HealthRow, session_scope

if TYPE_CHECKING:
    from conftest import LiveServer

D = "/api/v2/deployments"
DEPLOYMENT_KEYS = {
    "id",
    "label",
    "description",
    "status",
    "importance",
    "model",
    "serviceHealth",
    "modelHealth",
    "accuracyHealth",
    "fairnessHealth",
    "createdAt",
    "updatedAt",
    "permissions",
    "predictionUsage",
    "defaultPredictionServer",
    "latestReport",
    "modelCard",
    "modelPackage",
}
CHECKS = {
    "targetType",
    "target",
    "notCurrentModel",
    "permission",
    "supported",
    "modelCanBeDeployed",
    "modelStatus",
    "featureDataTypes",
    "features",
}


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    """A user of this test only, and a client carrying their token."""
    name = f"olivia-{uuid.uuid4().hex[:8]}"
    with server.client(server.token(name)) as client:
        yield name, client


def _predict(client: httpx.Client, deployment_id: str, body: str) -> httpx.Response:
    return client.post(
        f"/predApi/v1.0/deployments/{deployment_id}/predictions",
        content=body,
        headers={"Content-Type": "application/json"},
    )


def _health(store_url: str, deployment_id: str, kind: str, status: str) -> None:
    now = datetime.now(UTC)
    with session_scope(store_url) as session:
        session.add(
            HealthRow(
                deployment_id=deployment_id,
                kind=kind,
                status=status,
                message=f"{kind} is {status}",
                window_start=now,
                window_end=now,
                details={},
                evaluated_at=now,
            )
        )


def _run_of(server: LiveServer, name: str, version: str) -> str:
    """The MLflow run that fitted a registered version."""
    from mlflow.tracking import MlflowClient

    uri = server.models.tracking_uri
    return str(MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(name, version).run_id)


def _field_error(response: httpx.Response, *loc: str) -> dict[str, Any]:
    """The validation error FastAPI reports for the field at ``loc`` (asserting there is one)."""
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert isinstance(errors, list), errors
    for error in errors:
        if tuple(str(p) for p in error["loc"]) == loc:
            assert error["msg"]
            return dict(error)
    raise AssertionError(f"no error at {loc}: {errors}")


# ---- create ------------------------------------------------------------------------------------------


def test_create_answers_201_in_camel_case_and_makes_the_caller_owner(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    response = client.post(
        f"{D}/fromModelPackage/",
        json={
            "modelPackageId": server.models.churn_v1,
            "label": "Churn EU",
            "description": "weekly",
            "importance": "HIGH",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == DEPLOYMENT_KEYS
    assert (body["label"], body["description"], body["importance"], body["status"]) == (
        "Churn EU",
        "weekly",
        "HIGH",
        "active",
    )
    assert body["model"] == {
        "id": "churn/1",
        "registeredModelName": "churn",
        "version": "1",
        "targetName": "churned",
        "targetType": "Binary",
        # The session's models are registered without lineage tags, in a SQLite tracking store (no UI).
        "datasetName": None,
        "datasetVersion": None,
        "trainingRunId": body["model"]["trainingRunId"],
        "sweepParentRunId": None,
        "mlflowModelUrl": None,
        "mlflowRunUrl": None,
        # DataRobot's: what kind of model (its blueprint name; we know none), its project (sweep).
        "type": "MLflow registered model version",
        "projectId": "",
    }
    assert body["modelPackage"] == {"id": "churn/1", "name": "churn", "registeredModelId": "churn"}
    assert body["model"]["trainingRunId"] == _run_of(server, "churn", "1")
    # Where DataRobot's client polls after creating: already done, it redirects to the deployment.
    done = client.get(response.headers["Location"], follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["Location"] == f"{server.url}{D}/{body['id']}/"
    assert body["predictionUsage"] == {"lastTimestamp": None, "dailyRates": [0] * 7}
    # datarobot-predict sends rows to {url}/predApi/…: the server this caller reached
    assert body["defaultPredictionServer"]["url"] == server.url
    assert body["latestReport"] is None
    assert set(body["serviceHealth"]) == {"status", "message", "startDate", "endDate"}
    assert datetime.fromisoformat(body["createdAt"]).tzinfo is not None

    roles = client.get(f"{D}/{body['id']}/sharedRoles/").json()
    assert roles["data"] == [
        {"id": recipient_id(name), "name": name, "role": "OWNER", "shareRecipientType": "user"}
    ]
    (entry,) = client.get(f"{D}/{body['id']}/auditLog/").json()["data"]
    assert (entry["action"], entry["actor"], entry["before"]) == ("create", name, None)
    assert entry["after"]["label"] == "Churn EU" and entry["after"]["model_id"] == "churn/1"
    history = client.get(f"{D}/{body['id']}/modelHistory/").json()["data"]
    assert [(h["reason"], h["actor"]) for h in history] == [("INITIAL", name)]


@pytest.mark.parametrize(
    ("body", "loc", "says"),
    [
        ({"label": "x"}, ("body", "modelPackageId"), "Field required"),
        ({"modelPackageId": "churn/1"}, ("body", "label"), "Field required"),
        ({"modelPackageId": "churn", "label": "x"}, ("body", "modelPackageId"), "pattern"),
        ({"modelPackageId": "churn/1", "label": ""}, ("body", "label"), "at least 1"),
        ({"modelPackageId": "churn/1", "label": 42}, ("body", "label"), "string"),
        (
            {"modelPackageId": "churn/1", "label": "x", "importance": "URGENT"},
            ("body", "importance"),
            "CRITICAL",
        ),
        ({"modelPackageId": "churn/1", "label": "x", "owner": "me"}, ("body", "owner"), "Extra inputs"),
        ({"modelPackageId": "churn/1", "label": "x" * 513}, ("body", "label"), "at most 512"),
    ],
)
def test_create_refuses_bad_bodies_naming_the_field(
    owner: tuple[str, httpx.Client], body: dict[str, Any], loc: tuple[str, ...], says: str
) -> None:
    _name, client = owner
    response = client.post(f"{D}/fromModelPackage/", json=body)
    assert says in _field_error(response, *loc)["msg"]
    assert client.get(f"{D}/").json()["totalCount"] == 0


@pytest.mark.parametrize(
    ("model_id", "says"),
    [("churn/99", "not in the MLflow registry"), ("untagged/1", "lacks the registry tags")],
)
def test_create_refuses_a_model_that_cannot_be_deployed(
    owner: tuple[str, httpx.Client], model_id: str, says: str
) -> None:
    _name, client = owner
    response = client.post(f"{D}/fromModelPackage/", json={"modelPackageId": model_id, "label": "x"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("modelPackageId: ")
    assert says in response.json()["detail"]
    assert client.get(f"{D}/").json()["totalCount"] == 0


# ---- list --------------------------------------------------------------------------------------------


def test_list_pages_with_next_and_previous_links(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    labels = [f"page-{i}" for i in range(5)]
    for label in labels:
        server.deploy(label=label, owner=name)
    seen: list[str] = []
    url: str | None = f"{D}/?limit=2"
    pages = []
    while url is not None:
        body = client.get(url).json()
        pages.append(body)
        seen += [d["label"] for d in body["data"]]
        url = body["next"]
    assert seen == labels
    assert [p["count"] for p in pages] == [2, 2, 1]
    assert {p["totalCount"] for p in pages} == {5}
    assert pages[0]["previous"] is None
    assert "offset=2" in pages[0]["next"] and "limit=2" in pages[0]["next"]
    assert "offset=0" in pages[1]["previous"]
    assert "offset=2" in pages[2]["previous"]
    back = client.get(pages[2]["previous"]).json()
    assert [d["label"] for d in back["data"]] == labels[2:4]
    beyond = client.get(f"{D}/", params={"offset": 10, "limit": 2}).json()
    assert (beyond["count"], beyond["data"], beyond["next"]) == (0, [], None)


def test_list_search_is_literal_and_case_insensitive(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    for label in ("Churn_EU", "churnXeu", "100% sure", "1000 sure"):
        server.deploy(label=label, owner=name)

    def search(text: str) -> list[str]:
        return [d["label"] for d in client.get(f"{D}/", params={"search": text}).json()["data"]]

    assert search("n_e") == ["Churn_EU"]
    assert search("CHURN") == ["Churn_EU", "churnXeu"]
    assert search("0%") == ["100% sure"]
    assert search("nothing") == []


def test_list_orders_by_each_field(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    a = server.deploy(label="alpha", owner=name, importance="LOW")
    b = server.deploy(label="Bravo", owner=name, importance="CRITICAL")
    c = server.deploy(label="charlie", owner=name)
    url = server.settings.store_url
    _health(url, a.id, "service", "warning")
    _health(url, b.id, "service", "passing")
    _health(url, c.id, "service", "failing")
    _health(url, a.id, "drift", "failing")

    def order(by: str) -> list[str]:
        response = client.get(f"{D}/", params={"orderBy": by})
        assert response.status_code == 200, response.text
        return [d["label"] for d in response.json()["data"]]

    assert order("label") == ["alpha", "Bravo", "charlie"]
    assert order("-label") == ["charlie", "Bravo", "alpha"]
    assert order("-serviceHealth") == ["charlie", "alpha", "Bravo"]  # worst first
    assert order("serviceHealth") == ["Bravo", "alpha", "charlie"]
    assert order("-importance") == ["Bravo", "alpha", "charlie"]
    assert order("-modelHealth")[0] == "alpha"
    assert order("createdAt") == ["alpha", "Bravo", "charlie"]
    assert order("-createdAt") == ["charlie", "Bravo", "alpha"]
    client.patch(f"{D}/{a.id}/", json={"description": "touched"})
    assert order("-updatedAt")[0] == "alpha"
    error = _field_error(client.get(f"{D}/", params={"orderBy": "color"}), "query", "orderBy")
    assert "label" in error["msg"] and "serviceHealth" in error["msg"]


def test_list_filters_by_importance_role_and_health(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    mine_high = server.deploy(label="mine-high", owner=name, importance="HIGH")
    mine_low = server.deploy(label="mine-low", owner=name, importance="LOW")
    theirs = server.deploy(label="theirs", owner="someone-else", shares={name: "USER"})
    consumed = server.deploy(label="consumed", owner="someone-else", shares={name: "CONSUMER"})
    server.deploy(label="hidden", owner="someone-else")  # no role: never listed
    url = server.settings.store_url
    _health(url, mine_low.id, "service", "failing")
    _health(url, theirs.id, "drift", "warning")
    _health(url, mine_high.id, "accuracy", "passing")

    def labels(**params: Any) -> list[str]:
        response = client.get(f"{D}/", params=params)
        assert response.status_code == 200, response.text
        return [d["label"] for d in response.json()["data"]]

    assert labels() == ["consumed", "mine-high", "mine-low", "theirs"]
    assert labels(importance="HIGH") == ["mine-high"]
    assert labels(importance="HIGH,LOW") == ["mine-high", "mine-low"]
    assert labels(importance=["LOW", "HIGH"]) == ["mine-high", "mine-low"]
    assert labels(role="OWNER") == ["mine-high", "mine-low"]
    assert labels(role="USER") == ["theirs"]
    assert labels(role="CONSUMER") == ["consumed"]
    assert labels(role="USER,CONSUMER") == ["consumed", "theirs"]
    assert labels(serviceHealth="failing") == ["mine-low"]
    assert labels(serviceHealth="unknown") == ["consumed", "mine-high", "theirs"]
    assert labels(modelHealth="warning") == ["theirs"]
    assert labels(accuracyHealth="passing") == ["mine-high"]
    assert labels(importance="LOW", serviceHealth="passing") == []

    for param, value, valid in (
        ("importance", "URGENT", "'CRITICAL'"),
        ("role", "ADMIN", "'OWNER'"),
        ("serviceHealth", "great", "'passing'"),
    ):
        response = client.get(f"{D}/", params={param: value})
        assert response.status_code == 422, response.text
        assert repr(value) in response.json()["detail"] and valid in response.json()["detail"]

    # The admin sees every deployment and is OWNER of each.
    with server.client(server.admin_token) as admin:
        every = {d["id"] for d in admin.get(f"{D}/", params={"limit": 1000}).json()["data"]}
        assert {mine_high.id, theirs.id, consumed.id} <= every
        as_owner = admin.get(f"{D}/", params={"role": "OWNER", "limit": 1000}).json()["data"]
        assert {d["id"] for d in as_owner} == every
        assert admin.get(f"{D}/", params={"role": "USER"}).json()["data"] == []


# ---- get / patch / delete / status -------------------------------------------------------------------


def test_get_patch_and_delete(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(label="before", owner=name)
    got = client.get(f"{D}/{d.id}/")
    assert got.status_code == 200 and got.json()["label"] == "before"

    patched = client.patch(f"{D}/{d.id}/", json={"label": "after", "importance": "CRITICAL"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["label"], patched.json()["importance"]) == ("after", "CRITICAL")
    assert client.get(f"{D}/{d.id}/").json() == patched.json()
    fresh = Deployment.get(d.id, store_url=server.settings.store_url)
    assert (fresh.label, fresh.importance, fresh.description) == ("after", "CRITICAL", None)
    update = client.get(f"{D}/{d.id}/auditLog/").json()["data"][-1]
    assert (update["action"], update["actor"]) == ("update", name)
    assert (update["before"]["label"], update["after"]["label"]) == ("before", "after")
    assert (update["before"]["importance"], update["after"]["importance"]) == (None, "CRITICAL")

    _field_error(client.patch(f"{D}/{d.id}/", json={"label": ""}), "body", "label")
    _field_error(client.patch(f"{D}/{d.id}/", json={"importance": "urgent"}), "body", "importance")
    _field_error(client.patch(f"{D}/{d.id}/", json={"status": "inactive"}), "body", "status")
    assert client.get(f"{D}/{d.id}/").json()["label"] == "after"

    deleted = client.delete(f"{D}/{d.id}/")
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"{D}/{d.id}/").status_code == 404
    assert client.delete(f"{D}/{d.id}/").status_code == 404
    assert client.get(f"{D}/").json()["totalCount"] == 0
    # The audit trail outlives the deployment.
    trail = audit_log(d.id, store_url=server.settings.store_url)
    assert [e["action"] for e in trail] == ["create", "update", "delete"]
    assert trail[-1]["actor"] == name and trail[-1]["after"] is None


def test_a_deactivated_deployment_refuses_predictions_until_activated(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    off = client.patch(f"{D}/{d.id}/status/", json={"status": "inactive"})
    assert off.status_code == 202, off.text
    assert off.json()["status"] == "inactive"
    refused = _predict(client, d.id, server.rows(2))
    assert refused.status_code == 422
    assert "inactive" in refused.json()["detail"]

    on = client.patch(f"{D}/{d.id}/status/", json={"status": "active"})
    assert on.json()["status"] == "active"
    deadline = time.monotonic() + 10  # the server's model cache notices within its refresh interval
    response = _predict(client, d.id, server.rows(2))
    while response.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = _predict(client, d.id, server.rows(2))
    assert response.status_code == 200, response.text
    actions = [e["action"] for e in client.get(f"{D}/{d.id}/auditLog/").json()["data"]]
    assert actions == ["create", "deactivate", "activate"]
    _field_error(client.patch(f"{D}/{d.id}/status/", json={"status": "paused"}), "body", "status")


# ---- model validation and replacement ---------------------------------------------------------------


def test_model_validation_reports_every_check(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name, shares={"val-user": "USER"})
    ok = client.post(f"{D}/{d.id}/model/validation/", json={"modelId": server.models.churn_v2})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["status"] in ("passing", "warning")
    assert body["message"].startswith("Model churn/2 can replace churn/1")
    assert set(body["checks"]) >= CHECKS
    for check in body["checks"].values():
        assert set(check) == {"status", "message"} and check["message"]
    assert body["checks"]["permission"]["status"] == "passing"
    assert body["checks"]["modelStatus"] == {
        "status": "passing",
        "message": "the model version is READY in the registry",
    }
    assert body["checks"]["supported"]["status"] == "passing"
    assert body["checks"]["featureDataTypes"]["status"] in ("passing", "warning")

    def failing(model_id: str) -> set[str]:
        r = client.post(f"{D}/{d.id}/model/validation/", json={"modelId": model_id})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "failing"
        return {k for k, v in r.json()["checks"].items() if v["status"] == "failing"}

    assert failing(server.models.churn_small) == {"features"}
    assert failing(server.models.charges) == {"targetType", "target", "features"}
    assert failing(server.models.churn_v1) == {"notCurrentModel"}
    assert failing("churn/99") == {"modelCanBeDeployed"}
    # A USER may read the validation, and is told why replacing is not theirs to do.
    user = client.post(
        f"{D}/{d.id}/model/validation/",
        json={"modelId": server.models.churn_v2},
        headers={"Authorization": f"Bearer {server.token('val-user')}"},
    ).json()
    assert user["status"] == "failing"
    assert user["checks"]["permission"]["status"] == "failing"
    assert "only an OWNER" in user["checks"]["permission"]["message"]
    _field_error(client.post(f"{D}/{d.id}/model/validation/", json={"modelId": "churn"}), "body", "modelId")
    # DataRobot 3.4+ clients name the model modelPackageId; exactly one of the two is needed.
    neither = _field_error(client.post(f"{D}/{d.id}/model/validation/", json={}), "body")
    assert "modelId" in neither["msg"] and "modelPackageId" in neither["msg"]


def test_replace_records_reason_and_actor(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    assert _predict(client, d.id, server.rows(1)).headers["X-MLOps-Model-Id"] == "churn/1"
    response = client.patch(
        f"{D}/{d.id}/model/", json={"modelId": server.models.churn_v2, "reason": "DATA_DRIFT"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["model"]["id"] == "churn/2"
    assert response.json()["modelHealth"]["status"] == "unknown"

    history = client.get(f"{D}/{d.id}/modelHistory/").json()["data"]
    assert [(h["oldModelVersion"], h["newModelVersion"], h["reason"], h["actor"]) for h in history] == [
        (None, "1", "INITIAL", name),
        ("1", "2", "DATA_DRIFT", name),
    ]
    replace = client.get(f"{D}/{d.id}/auditLog/").json()["data"][-1]
    assert (replace["action"], replace["actor"]) == ("replace", name)
    assert (replace["before"]["model_id"], replace["after"]["model_id"]) == ("churn/1", "churn/2")
    assert replace["after"]["reason"] == "DATA_DRIFT"
    deadline = time.monotonic() + 10
    while _predict(client, d.id, server.rows(1)).headers["X-MLOps-Model-Id"] != "churn/2":
        assert time.monotonic() < deadline, "the server still serves churn/1"
        time.sleep(0.1)


@pytest.mark.parametrize("attr", ["churn_small", "charges", "churn_v1", "untagged"])
def test_replace_refuses_a_failing_model_and_changes_nothing(
    server: LiveServer, owner: tuple[str, httpx.Client], attr: str
) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    before = (client.get(f"{D}/{d.id}/").json(), client.get(f"{D}/{d.id}/auditLog/").json())
    history = client.get(f"{D}/{d.id}/modelHistory/").json()
    response = client.patch(
        f"{D}/{d.id}/model/", json={"modelId": getattr(server.models, attr), "reason": "ACCURACY"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("modelId: ")
    assert "cannot replace" in response.json()["detail"]
    assert (client.get(f"{D}/{d.id}/").json(), client.get(f"{D}/{d.id}/auditLog/").json()) == before
    assert client.get(f"{D}/{d.id}/modelHistory/").json() == history


def test_replace_body_is_validated(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    url = f"{D}/{d.id}/model/"
    error = _field_error(
        client.patch(url, json={"modelId": server.models.churn_v2, "reason": "BORED"}), "body", "reason"
    )
    assert "DATA_DRIFT" in error["msg"]
    _field_error(client.patch(url, json={"modelId": server.models.churn_v2}), "body", "reason")
    _field_error(client.patch(url, json={"modelId": 2, "reason": "OTHER"}), "body", "modelId")
    _field_error(
        client.patch(url, json={"modelId": server.models.churn_v2, "reason": "OTHER", "force": True}),
        "body",
        "force",
    )
    assert Deployment.get(d.id, store_url=server.settings.store_url).model["id"] == "churn/1"


# ---- settings ------------------------------------------------------------------------------------------


def test_settings_get_and_patch(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    url = f"{D}/{d.id}/settings/"
    assert client.get(url).json() == {
        "targetDrift": {"enabled": True},
        "featureDrift": {"enabled": True},
        "associationId": {"columnNames": [], "requiredInPredictionRequests": False},
        "predictionsDataCollection": {"enabled": True},
        "predictionWarning": {"enabled": False, "customBoundaries": None},
        "retraining": {
            "source": None,
            "triggerReasons": [
                "ACCURACY",
                "DATA_DRIFT",
                "ERRORS",
                "SCHEDULED_REFRESH",
                "SCORING_SPEED",
                "OTHER",
            ],
            "dataWindow": None,
            "timestampColumn": None,
            "coolDown": "P1D",
            "replacement": "automatic",
            "margin": 0.0,
            "metric": None,
            "refreshSchedule": None,
        },
        # DataRobot's sections with no counterpart here: off (api.schemas.UNSUPPORTED_SETTINGS).
        "predictionIntervals": {"enabled": False, "percentiles": []},
        "challengerModels": {"enabled": False},
        "segmentAnalysis": {"enabled": False, "attributes": []},
        "predictionsByForecastDate": {"enabled": False},
        "biasAndFairness": None,
    }
    response = client.patch(
        url,
        json={
            "featureDrift": {"enabled": False},
            "associationId": {"columnNames": ["customer_id"], "requiredInPredictionRequests": True},
            "predictionsDataCollection": {"enabled": False},
            "retraining": {
                "source": "include/data/churn.csv",
                "triggerReasons": ["DATA_DRIFT", "ACCURACY"],
                "dataWindow": "P14D",
                "timestampColumn": "event_time",
                "replacement": "approval",
                "refreshSchedule": "0 3 * * 1",
            },
        },
    )
    assert response.status_code == 202, response.text
    after = client.get(url).json()
    assert after == response.json()
    assert after["featureDrift"] == {"enabled": False}
    assert after["targetDrift"] == {"enabled": True}
    assert after["associationId"] == {"columnNames": ["customer_id"], "requiredInPredictionRequests": True}
    assert after["retraining"]["source"] == "include/data/churn.csv"
    # Reasons are kept in the enum's order, whatever order they were sent in.
    assert after["retraining"]["triggerReasons"] == ["ACCURACY", "DATA_DRIFT"]
    assert (after["retraining"]["dataWindow"], after["retraining"]["replacement"]) == ("P14D", "approval")
    assert after["retraining"]["coolDown"] == "P1D"
    assert stored_retraining(server, d.id)["refresh_schedule"] == "0 3 * * 1"
    stored = Deployment.get(d.id, store_url=server.settings.store_url).settings
    assert stored["drift_tracking"]["feature_drift"]["enabled"] is False
    assert stored["predictions_data_collection"]["enabled"] is False
    entry = client.get(f"{D}/{d.id}/auditLog/").json()["data"][-1]
    assert (entry["action"], entry["actor"]) == ("settings", name)
    assert entry["before"]["settings"]["association_id"]["column_names"] == []
    assert entry["after"]["settings"]["association_id"]["column_names"] == ["customer_id"]


def stored_retraining(server: LiveServer, deployment_id: str) -> dict[str, Any]:
    return dict(Deployment.get(deployment_id, store_url=server.settings.store_url).settings["retraining"])


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"targetDrift": {"enabled": "sometimes"}}, ("body", "targetDrift", "enabled")),
        ({"targetDrift": {"enabled": True, "window": 3}}, ("body", "targetDrift", "window")),
        ({"colour": "blue"}, ("body", "colour")),
        ({"associationId": {"columnNames": ["a", "b"]}}, ("body", "associationId", "columnNames")),
        ({"associationId": {"columnNames": "customer_id"}}, ("body", "associationId", "columnNames")),
        (
            {"predictionWarning": {"customBoundaries": {"lower": "low", "upper": 1}}},
            ("body", "predictionWarning", "customBoundaries", "lower"),
        ),
        ({"retraining": {"source": 3}}, ("body", "retraining", "source")),
        ({"retraining": {"replacement": "sometimes"}}, ("body", "retraining", "replacement")),
        ({"retraining": {"triggerReasons": ["BOREDOM"]}}, ("body", "retraining", "triggerReasons", "0")),
        ({"retraining": {"margin": -0.1}}, ("body", "retraining", "margin")),
        ({"retraining": {"coolDown": "a day"}}, ("body", "retraining", "coolDown")),
        ({"retraining": {"dataWindow": "P1M"}}, ("body", "retraining", "dataWindow")),
        ({"retraining": {"cool_down": "PT1H"}}, ("body", "retraining", "cool_down")),  # camelCase only
        ({"targetDrift": {"enabled": "true"}}, ("body", "targetDrift", "enabled")),
    ],
)
def test_settings_patch_refuses_bad_values_naming_the_field(
    server: LiveServer, owner: tuple[str, httpx.Client], body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    before = client.get(f"{D}/{d.id}/settings/").json()
    _field_error(client.patch(f"{D}/{d.id}/settings/", json=body), *loc)
    assert client.get(f"{D}/{d.id}/settings/").json() == before


def test_durations_take_any_iso_form_and_read_back_in_one(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    url = f"{D}/{d.id}/settings/"
    body = {"retraining": {"coolDown": "PT90M", "dataWindow": "PT36H", "timestampColumn": "event_time"}}
    response = client.patch(url, json=body)
    assert response.status_code == 202, response.text
    assert (response.json()["retraining"]["coolDown"], response.json()["retraining"]["dataWindow"]) == (
        "PT1H30M",
        "P1DT12H",
    )
    assert stored_retraining(server, d.id)["cool_down"] == "PT1H30M"
    refused = _field_error(
        client.patch(url, json={"retraining": {"coolDown": "1 day"}}), "body", "retraining", "coolDown"
    )
    assert refused["input"] == "1 day" and "P7D" in refused["msg"]


def test_a_null_section_changes_nothing(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    before = client.get(f"{D}/{d.id}/settings/").json()
    response = client.patch(f"{D}/{d.id}/settings/", json={"associationId": None, "targetDrift": None})
    assert response.status_code == 202, response.text
    assert response.json() == before
    health = client.patch(
        f"{D}/{d.id}/healthSettings/", json={"service": None, "accuracy": {"metric": "AUC"}}
    )
    assert health.status_code == 200, health.text
    assert health.json()["accuracy"]["metric"] == "AUC"


def test_settings_rules_beyond_the_schema(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    binary = server.deploy(owner=name)
    regression = server.deploy(server.models.charges, owner=name)

    def patch(d: Deployment, body: dict[str, Any]) -> httpx.Response:
        return client.patch(f"{D}/{d.id}/settings/", json=body)

    # All or nothing: the valid section is not applied when another one is refused.
    refused = patch(binary, {"featureDrift": {"enabled": False}, "predictionWarning": {"enabled": True}})
    assert refused.status_code == 422
    assert "regression deployments only" in refused.json()["detail"]
    assert client.get(f"{D}/{binary.id}/settings/").json()["featureDrift"] == {"enabled": True}

    required = patch(binary, {"associationId": {"requiredInPredictionRequests": True}})
    assert required.status_code == 422
    assert "needs a column in column_names" in required.json()["detail"]

    bounds = {"predictionWarning": {"enabled": True, "customBoundaries": {"lower": 10, "upper": 5}}}
    inverted = _field_error(patch(regression, bounds), "body", "predictionWarning", "customBoundaries")
    assert "lower (10) must be below upper (5)" in inverted["msg"]
    fine = patch(
        regression, {"predictionWarning": {"enabled": True, "customBoundaries": {"lower": 5, "upper": 150}}}
    )
    assert fine.status_code == 202, fine.text
    assert fine.json()["predictionWarning"] == {
        "enabled": True,
        "customBoundaries": {"lower": 5.0, "upper": 150.0},
    }
    default = patch(regression, {"predictionWarning": {"customBoundaries": None}})
    assert default.json()["predictionWarning"] == {"enabled": True, "customBoundaries": None}


def test_association_id_is_frozen_once_the_deployment_served_predictions(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    url = f"{D}/{d.id}/settings/"
    assert client.patch(url, json={"associationId": {"columnNames": ["customer_id"]}}).status_code == 202
    assert client.patch(url, json={"associationId": {"columnNames": ["order_id"]}}).status_code == 202
    assert _predict(client, d.id, server.rows(2)).status_code == 200
    server.app.state.prediction_log.flush()

    frozen = client.patch(url, json={"associationId": {"columnNames": ["customer_id"]}})
    assert frozen.status_code == 422
    assert "cannot change once the deployment has served predictions" in frozen.json()["detail"]
    assert client.get(url).json()["associationId"]["columnNames"] == ["order_id"]
    # Repeating the current value, or changing another setting, is still fine.
    assert client.patch(url, json={"associationId": {"columnNames": ["order_id"]}}).status_code == 202
    assert client.patch(url, json={"targetDrift": {"enabled": False}}).status_code == 202
    cleared = client.patch(url, json={"associationId": {"columnNames": []}})
    assert cleared.status_code == 422


# ---- health settings --------------------------------------------------------------------------------


def test_health_settings_get_and_patch(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    url = f"{D}/{d.id}/healthSettings/"
    body = client.get(url).json()
    assert set(body) == {"service", "dataDrift", "accuracy"}
    assert body["service"] == {
        "batchCount": 5,
        "serverErrorWarning": 0.01,
        "serverErrorFailing": 0.05,
        "userErrorWarning": 0.05,
        "userErrorFailing": 0.2,
        "slowWarning": 0.05,
        "slowFailing": 0.2,
        "responseTimeWarningMs": None,
        "responseTimeFailingMs": None,
        "minRequests": 1,
    }
    assert body["dataDrift"]["timeInterval"] == "P7D"
    assert body["dataDrift"]["metric"] == "psi"
    assert set(body["dataDrift"]) == {
        "timeInterval",
        "driftThreshold",
        "importanceThreshold",
        "lowImportanceWarningCount",
        "lowImportanceFailingCount",
        "highImportanceWarningCount",
        "highImportanceFailingCount",
        "excludedFeatures",
        "starredFeatures",
        "metric",
        "rule",
        "significanceLevel",
        "wassersteinThreshold",
        "ksThreshold",
        "jsDistanceThreshold",
        "shareRiseThreshold",
    }
    assert body["dataDrift"]["rule"] == "distribution"
    assert set(body["accuracy"]) == {"metric", "measurement", "warningThreshold", "failingThreshold"}

    changed = client.patch(
        url,
        json={
            "service": {"batchCount": 2, "serverErrorFailing": 0.1, "responseTimeFailingMs": 250},
            "dataDrift": {
                "driftThreshold": 0.3,
                "metric": "hellinger",
                "timeInterval": "PT12H",
                "excludedFeatures": ["tenure_months"],
                "rule": "threshold",
                "wassersteinThreshold": 0.2,
            },
            "accuracy": {"measurement": "value", "warningThreshold": 0.05},
        },
    )
    assert changed.status_code == 200, changed.text
    after = client.get(url).json()
    assert after == changed.json()
    assert after["service"] == {
        **body["service"],
        "batchCount": 2,
        "serverErrorFailing": 0.1,
        "responseTimeFailingMs": 250,
    }
    assert (after["dataDrift"]["driftThreshold"], after["dataDrift"]["metric"]) == (0.3, "hellinger")
    assert (after["dataDrift"]["rule"], after["dataDrift"]["wassersteinThreshold"]) == ("threshold", 0.2)
    assert after["dataDrift"]["excludedFeatures"] == ["tenure_months"]
    assert after["dataDrift"]["importanceThreshold"] == body["dataDrift"]["importanceThreshold"]
    assert after["accuracy"]["measurement"] == "value"
    entry = client.get(f"{D}/{d.id}/auditLog/").json()["data"][-1]
    assert (entry["action"], entry["actor"]) == ("settings.health", name)
    assert entry["before"]["settings"]["health"]["service"]["batch_count"] == 5
    assert entry["after"]["settings"]["health"]["service"]["batch_count"] == 2


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"service": {"batchCount": 0}}, "batchCount"),
        ({"dataDrift": {"metric": "vibes"}}, "metric"),
        ({"dataDrift": {"driftThreshold": -1}}, "driftThreshold"),
        ({"dataDrift": {"timeInterval": "weekly"}}, "P7D"),
        ({"dataDrift": {"excludedFeatures": ["shoe_size"]}}, "tenure_months"),
        ({"accuracy": {"warningThreshold": 0.5, "failingThreshold": 0.2}}, "must not exceed"),
        ({"accuracy": {"measurement": "vibes"}}, "measurement"),
        ({"service": {"batchCount": 2, "window": 1}}, "window"),
        ({"service": {"slowWarning": 0.5, "slowFailing": 0.3}}, "slow_warning (0.5) must not exceed"),
        ({"service": {"serverErrorFailing": 2}}, "serverErrorFailing"),
        ({"latency": {}}, "latency"),
    ],
)
def test_health_settings_patch_refuses_bad_values(
    server: LiveServer, owner: tuple[str, httpx.Client], body: dict[str, Any], says: str
) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    url = f"{D}/{d.id}/healthSettings/"
    before = client.get(url).json()
    response = client.patch(url, json=body)
    assert response.status_code == 422, response.text
    assert says in json.dumps(response.json()["detail"])
    assert client.get(url).json() == before


# ---- permissions: what the console may offer each caller ---------------------------------------------

#: Written out (not read from airflow_mlops.security) so a change to the role table is noticed here.
EVERY_ACTION = ["predict", "read", "update", "settings", "replace", "delete", "share"]


def test_deployment_json_tells_the_caller_what_it_may_do(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    reader = f"rita-{uuid.uuid4().hex[:6]}"
    consumer = f"carl-{uuid.uuid4().hex[:6]}"
    d = server.deploy(owner=name, shares={reader: "USER", consumer: "CONSUMER"})

    assert client.get(f"{D}/{d.id}/").json()["permissions"] == EVERY_ACTION
    assert [x["permissions"] for x in client.get(f"{D}/").json()["data"]] == [EVERY_ACTION]
    changed = client.patch(f"{D}/{d.id}/", json={"description": "seen by the console"})
    assert changed.json()["permissions"] == EVERY_ACTION
    created = client.post(
        f"{D}/fromModelPackage/", json={"modelPackageId": server.models.churn_v1, "label": "new"}
    )
    assert created.status_code == 201 and created.json()["permissions"] == EVERY_ACTION

    with server.client(server.token(reader)) as as_reader:
        assert as_reader.get(f"{D}/{d.id}/").json()["permissions"] == ["predict", "read"]
        assert [x["permissions"] for x in as_reader.get(f"{D}/").json()["data"]] == [["predict", "read"]]
    with server.client(server.token(consumer)) as as_consumer:
        # A consumer may not read the deployment, but lists it: with the one thing it may do.
        assert as_consumer.get(f"{D}/{d.id}/").status_code == 403
        assert [x["permissions"] for x in as_consumer.get(f"{D}/").json()["data"]] == [["predict"]]
    with server.client(server.admin_token) as admin:
        assert admin.get(f"{D}/{d.id}/").json()["permissions"] == EVERY_ACTION
        listed = admin.get(f"{D}/", params={"limit": 1000}).json()["data"]
        assert {tuple(x["permissions"]) for x in listed} == {tuple(EVERY_ACTION)}


# ---- sharing ------------------------------------------------------------------------------------------


def test_sharing_gives_and_takes_roles(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    bob = f"bob-{uuid.uuid4().hex[:6]}"
    with server.client(server.token(bob)) as as_bob:
        assert as_bob.get(f"{D}/{d.id}/").status_code == 404
        shared = client.patch(f"{D}/{d.id}/sharedRoles/", json={"roles": [{"username": bob, "role": "USER"}]})
        assert shared.status_code == 204, shared.text
        assert as_bob.get(f"{D}/{d.id}/").status_code == 200
        assert [x["id"] for x in as_bob.get(f"{D}/").json()["data"]] == [d.id]
        assert as_bob.patch(f"{D}/{d.id}/", json={"label": "bob's"}).status_code == 403
        assert (
            as_bob.patch(
                f"{D}/{d.id}/sharedRoles/", json={"roles": [{"username": bob, "role": "OWNER"}]}
            ).status_code
            == 403
        )
        roles = client.get(f"{D}/{d.id}/sharedRoles/").json()["data"]
        assert sorted((r["name"], r["role"]) for r in roles) == sorted([(name, "OWNER"), (bob, "USER")])

        promoted = client.patch(
            f"{D}/{d.id}/sharedRoles/", json={"roles": [{"username": bob, "role": "OWNER"}]}
        )
        assert promoted.status_code == 204
        assert as_bob.patch(f"{D}/{d.id}/", json={"description": "bob was here"}).status_code == 200

        removed = client.patch(
            f"{D}/{d.id}/sharedRoles/", json={"roles": [{"username": bob, "role": "NO_ROLE"}]}
        )
        assert removed.status_code == 204
        assert as_bob.get(f"{D}/{d.id}/").status_code == 404
        # Removing a role nobody holds is not an error.
        again = client.patch(
            f"{D}/{d.id}/sharedRoles/", json={"roles": [{"username": bob, "role": "NO_ROLE"}]}
        )
        assert again.status_code == 204

    shares = [e for e in client.get(f"{D}/{d.id}/auditLog/").json()["data"] if e["action"] == "share"]
    assert [(e["before"], e["after"]) for e in shares] == [
        (None, {"user": bob, "role": "USER"}),
        ({"user": bob, "role": "USER"}, {"user": bob, "role": "OWNER"}),
        ({"user": bob, "role": "OWNER"}, None),
    ]
    assert {e["actor"] for e in shares} == {name}

    url = f"{D}/{d.id}/sharedRoles/"
    _field_error(
        client.patch(url, json={"roles": [{"username": bob, "role": "ADMIN"}]}), "body", "roles", "0", "role"
    )
    _field_error(
        client.patch(url, json={"roles": [{"username": "bob smith", "role": "USER"}]}),
        "body",
        "roles",
        "0",
        "username",
    )
    _field_error(client.patch(url, json={"roles": []}), "body", "roles")


# ---- the audit log ---------------------------------------------------------------------------------


def test_audit_log_lists_every_change_with_before_and_after(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    created = client.post(
        f"{D}/fromModelPackage/", json={"modelPackageId": server.models.churn_v1, "label": "audited"}
    )
    did = created.json()["id"]
    steps = [
        ("patch", f"{D}/{did}/", {"label": "audited 2"}),
        ("patch", f"{D}/{did}/settings/", {"targetDrift": {"enabled": False}}),
        ("patch", f"{D}/{did}/healthSettings/", {"service": {"batchCount": 9}}),
        ("patch", f"{D}/{did}/model/", {"modelId": server.models.churn_v2, "reason": "SCHEDULED_REFRESH"}),
        ("patch", f"{D}/{did}/sharedRoles/", {"roles": [{"username": "carol", "role": "CONSUMER"}]}),
        ("patch", f"{D}/{did}/status/", {"status": "inactive"}),
    ]
    for method, url, body in steps:
        response = client.request(method, url, json=body)
        assert response.status_code in (200, 202, 204), (url, response.text)
    log = client.get(f"{D}/{did}/auditLog/").json()
    assert log["count"] == 7
    entries = log["data"]
    assert [e["action"] for e in entries] == [
        "create",
        "update",
        "settings",
        "settings.health",
        "replace",
        "share",
        "deactivate",
    ]
    assert {e["actor"] for e in entries} == {name}
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in entries]
    assert stamps == sorted(stamps)
    assert all(t.tzinfo is not None for t in stamps)
    for entry in entries[1:]:
        assert entry["before"] != entry["after"], entry["action"]
    assert entries[1]["after"]["label"] == "audited 2"
    assert entries[2]["after"]["settings"]["drift_tracking"]["target_drift"]["enabled"] is False
    assert entries[4]["before"]["model_id"] == "churn/1"
    assert entries[6]["after"]["status"] == "inactive"
    # Reads are not changes.
    client.get(f"{D}/{did}/")
    client.get(f"{D}/{did}/settings/")
    assert client.get(f"{D}/{did}/auditLog/").json()["count"] == 7
    paged = client.get(f"{D}/{did}/auditLog/", params={"offset": 5, "limit": 5}).json()
    assert [e["action"] for e in paged["data"]] == ["share", "deactivate"]


# ---- edge validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["nope", "0" * 23, "0" * 25, "G" * 24, "ABCDEF0123456789abcdef01"])
def test_malformed_deployment_ids_are_422_naming_the_path_parameter(
    owner: tuple[str, httpx.Client], bad_id: str
) -> None:
    _name, client = owner
    for method, suffix in (("GET", ""), ("PATCH", "settings/"), ("DELETE", ""), ("GET", "auditLog/")):
        response = client.request(method, f"{D}/{bad_id}/{suffix}", json={} if method == "PATCH" else None)
        error = _field_error(response, "path", "deployment_id")
        assert "pattern" in error["msg"]


@pytest.mark.parametrize(
    "content",
    ["{not json", "[]", '"label"', "null", "42", ""],
)
def test_bodies_that_are_not_objects_are_422(
    server: LiveServer, owner: tuple[str, httpx.Client], content: str
) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    for url in (f"{D}/{d.id}/", f"{D}/{d.id}/settings/", f"{D}/{d.id}/healthSettings/", f"{D}/{d.id}/model/"):
        response = client.patch(url, content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (url, content, response.text)
        assert response.json()["detail"], response.text


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"offset": -1}, ("query", "offset")),
        ({"limit": 0}, ("query", "limit")),
        ({"limit": 1001}, ("query", "limit")),
        ({"limit": "ten"}, ("query", "limit")),
        ({"search": "x" * 513}, ("query", "search")),
    ],
)
def test_list_query_parameters_are_validated(
    owner: tuple[str, httpx.Client], params: dict[str, Any], loc: tuple[str, ...]
) -> None:
    _name, client = owner
    _field_error(client.get(f"{D}/", params=params), *loc)


def test_an_oversize_prediction_body_is_413(
    server: LiveServer, owner: tuple[str, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow_mlops.serving.prediction_route as prediction_route

    name, client = owner
    d = server.deploy(owner=name)
    body = server.rows(20)
    monkeypatch.setattr(prediction_route, "MAX_BODY_BYTES", len(body) - 1)
    response = _predict(client, d.id, body)
    assert response.status_code == 413, response.text
    assert str(len(body) - 1) in response.json()["detail"]
    monkeypatch.setattr(prediction_route, "MAX_BODY_BYTES", len(body))
    assert _predict(client, d.id, body).status_code == 200


def test_prediction_input_errors_are_4xx(server: LiveServer, owner: tuple[str, httpx.Client]) -> None:
    name, client = owner
    d = server.deploy(owner=name)
    frame = server.rows_frame(3)
    records = json.loads(str(frame.to_json(orient="records")))
    wrong_type = [dict(r) for r in records]
    wrong_type[1]["tenure_months"] = "eleven"
    nested = [dict(r) for r in records]
    nested[0]["contract"] = {"kind": "monthly"}
    for body in (
        "{not json",
        "[1, 2, 3]",
        '{"tenure_months": 3}',
        "[]",
        "[{}]",
        json.dumps(wrong_type),
        json.dumps(nested),
        json.dumps([{**records[0], "tenure_months": "x" * 100_000}]),
    ):
        response = _predict(client, d.id, body)
        assert 400 <= response.status_code < 500, (body[:300], response.status_code, response.text[:300])
        assert response.json()["detail"]
    named = _predict(client, d.id, json.dumps(wrong_type))
    assert "tenure_months" in named.json()["detail"], named.text
    # And the deployment still serves good input.
    assert _predict(client, d.id, server.rows(2)).status_code == 200
