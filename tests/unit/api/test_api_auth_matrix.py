"""Every route by caller by credential: exactly the allowed cells succeed, the others get the right 4xx.

The expectation comes from the tables below (written out here, not read from
``airflow_mlops.security.roles``): a CONSUMER may only predict, a USER also
reads, an OWNER does everything, an admin token is OWNER everywhere, and any
authenticated caller may list deployments and create one. Missing, malformed,
unknown, expired and revoked credentials get 401; a caller with no role on the
deployment gets 404 (ids cannot be probed); a role without the permission 403.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from airflow_mlops.deployments import Deployment
from airflow_mlops.security import FRESH_S, revoke_token

if TYPE_CHECKING:
    from conftest import LiveServer

# ---- the tables -----------------------------------------------------------------------------------

#: Callers and the role each holds on the deployment under test ("ADMIN": an admin token, no role row).
CALLER_ROLE: dict[str, str | None] = {
    "owner": "OWNER",
    "user": "USER",
    "consumer": "CONSUMER",
    "stranger": None,  # authenticated, but no role on the deployment
    "admin": "ADMIN",
}

#: Who may do what. "any": every authenticated caller, whatever its role on deployments.
PERMITTED: dict[str, set[str | None]] = {
    "any": {"OWNER", "USER", "CONSUMER", None, "ADMIN"},
    "predict": {"OWNER", "USER", "CONSUMER", "ADMIN"},
    "read": {"OWNER", "USER", "ADMIN"},
    "update": {"OWNER", "ADMIN"},
    "settings": {"OWNER", "ADMIN"},
    "replace": {"OWNER", "ADMIN"},
    "delete": {"OWNER", "ADMIN"},
    "share": {"OWNER", "ADMIN"},
}

CREDENTIALS = ("none", "malformed", "unknown", "expired", "revoked", "right")

#: Routes anyone may call without a credential.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
}

D = "/api/v2/deployments"
P = "/api/v2/projects"
UNKNOWN_REQUEST = "0" * 32
#: A finished operation's status id, as ``api.status.accepted`` issues them (its poll answers 200).
DONE_STATUS = "eyJyZXN1bHQiOnt9fQ"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # "{id}" stands for the deployment id
    action: str
    ok: int
    body: Callable[[LiveServer], Any] | None = None
    #: Succeeding changes or removes the deployment: each succeeding cell gets a fresh one.
    destructive: bool = False
    #: Query parameters the route needs.
    params: Callable[[LiveServer], dict[str, str]] | None = None

    @property
    def template(self) -> str:
        return self.path.replace("{id}", "{deployment_id}")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("GET", "/api/v2/version/", "any", 200),
    Route("GET", "/api/v2/status/{status_id}/", "any", 200),
    Route("GET", f"{D}/", "any", 200),
    Route(
        "POST",
        f"{D}/fromModelPackage/",
        "any",
        201,
        lambda s: {"modelPackageId": s.models.churn_v1, "label": "from the matrix"},
    ),
    # Any authenticated caller gets past authentication; with no sweep trial behind the id the
    # answer is then 422 (the route itself is tested with a real sweep in tests/integration).
    Route(
        "POST",
        f"{D}/fromLearningModel/",
        "any",
        422,
        lambda s: {"modelId": "0" * 32, "registeredModelName": "matrix", "label": "from a trial"},
    ),
    Route("GET", f"{D}/{{id}}/", "read", 200),
    Route("PATCH", f"{D}/{{id}}/", "update", 200, lambda s: {"label": "renamed"}, destructive=True),
    Route("DELETE", f"{D}/{{id}}/", "delete", 204, destructive=True),
    Route("PATCH", f"{D}/{{id}}/status/", "update", 202, lambda s: {"status": "inactive"}, destructive=True),
    Route("POST", f"{D}/{{id}}/model/validation/", "read", 200, lambda s: {"modelId": s.models.churn_v2}),
    Route(
        "PATCH",
        f"{D}/{{id}}/model/",
        "replace",
        202,
        lambda s: {"modelId": s.models.churn_v2, "reason": "ACCURACY"},
        destructive=True,
    ),
    Route("GET", f"{D}/{{id}}/modelHistory/", "read", 200),
    Route("GET", f"{D}/{{id}}/settings/", "read", 200),
    Route(
        "PATCH",
        f"{D}/{{id}}/settings/",
        "settings",
        202,
        lambda s: {"targetDrift": {"enabled": False}},
        destructive=True,
    ),
    Route("GET", f"{D}/{{id}}/healthSettings/", "read", 200),
    Route(
        "PATCH",
        f"{D}/{{id}}/healthSettings/",
        "settings",
        200,
        lambda s: {"service": {"batchCount": 3}},
        destructive=True,
    ),
    Route("GET", f"{D}/{{id}}/sharedRoles/", "read", 200),
    Route(
        "PATCH",
        f"{D}/{{id}}/sharedRoles/",
        "share",
        204,
        lambda s: {"roles": [{"username": "dave", "role": "USER"}]},
        destructive=True,
    ),
    Route("GET", f"{D}/{{id}}/auditLog/", "read", 200),
    Route("GET", f"{D}/{{id}}/serviceStats/", "read", 200),
    Route("GET", f"{D}/{{id}}/serviceStatsOverTime/", "read", 200),
    Route("GET", f"{D}/{{id}}/targetDrift/", "read", 200),
    Route("GET", f"{D}/{{id}}/featureDrift/", "read", 200),
    # Past authorization, the matrix's deployments (made without training data) have no baseline
    # to draw on: 422 (both routes are tested on a baseline in tests/unit/api/test_api_monitoring.py).
    Route(
        "GET",
        f"{D}/{{id}}/featureHistogram/",
        "read",
        422,
        params=lambda s: {"featureName": s.models.features[0]},
    ),
    Route("GET", f"{D}/{{id}}/targetDriftOverTime/", "read", 422),
    Route(
        "GET",
        f"{D}/{{id}}/featureDriftOverTime/",
        "read",
        422,
        params=lambda s: {"featureName": s.models.features[0]},
    ),
    Route("GET", f"{D}/{{id}}/accuracy/", "read", 200),
    Route("GET", f"{D}/{{id}}/accuracyOverTime/", "read", 200),
    Route("GET", f"{D}/{{id}}/predictionsVsActualsOverTime/", "read", 200),
    Route("GET", f"{D}/{{id}}/humilityStatsOverTime/", "read", 200),
    # The matrix's deployments protect no feature: 422 (fairness is off) past authorization
    # (served with settings in tests/unit/api/test_api_fairness.py).
    Route("GET", f"{D}/{{id}}/fairnessScoresOverTime/", "read", 422),
    Route("GET", f"{D}/{{id}}/fairness/", "read", 422),
    Route(
        "POST",
        f"{D}/{{id}}/actuals/fromJSON/",
        "update",
        202,
        lambda s: {"data": [{"associationId": "a1", "actualValue": "yes"}]},
    ),
    # No monitoring pass wrote a report for the matrix's deployments: 404 past authorization
    # (served with a report in tests/unit/api/test_api_deployment_overview.py).
    Route("GET", f"{D}/{{id}}/reports/latest/", "read", 404),
    # The card is made on first read from the deployed version's registry entry (content tested in
    # tests/unit/api/test_api_model_card.py).
    Route("GET", f"{D}/{{id}}/modelCard/", "read", 200),
    Route("GET", f"{D}/{{id}}/retrainingRequests/", "read", 200),
    Route(
        "POST",
        f"{D}/{{id}}/retrainingRequests/",
        "replace",
        202,
        lambda s: {"reason": "OTHER", "note": "from the matrix"},
    ),
    # Past authorization, an unknown request id answers 404 (approving and rejecting real
    # requests is tested in tests/unit/api/test_api_retraining.py).
    Route("POST", f"{D}/{{id}}/retrainingRequests/{{request_id}}/approve/", "replace", 404),
    Route("POST", f"{D}/{{id}}/retrainingRequests/{{request_id}}/reject/", "replace", 404),
    Route("POST", "/predApi/v1.0/deployments/{id}/predictions", "predict", 200, lambda s: s.rows(2)),
    # Prometheus metrics: any authenticated caller; which deployments' series it sees is tested in
    # tests/unit/serving/test_metrics.py.
    Route("GET", "/metrics", "any", 200),
    # DataRobot client, deployments (dr-deploy): default health settings, and the settings routes
    # again under the doubled slash the client's bias-and-fairness calls send.
    Route("GET", f"{D}/{{id}}/healthSettings/defaults/", "read", 200),
    Route("GET", f"{D}//{{id}}/settings/", "read", 200),
    Route(
        "PATCH",
        f"{D}//{{id}}/settings/",
        "settings",
        202,
        lambda s: {"targetDrift": {"enabled": False}},
        destructive=True,
    ),
    # …and DataRobot's sub-resources read as empty or off, or mapped (api/deployment_extras.py).
    Route("GET", f"{D}/{{id}}/challengers/", "read", 200),
    Route("GET", f"{D}/{{id}}/challengerReplaySettings/", "read", 200),
    Route("PATCH", f"{D}/{{id}}/challengerReplaySettings/", "settings", 200, lambda s: {"enabled": False}),
    Route("GET", f"{D}/{{id}}/segmentAttributes/", "read", 200),
    Route("GET", f"{D}/{{id}}/retrainingSettings/", "read", 200),
    Route(
        "PATCH",
        f"{D}/{{id}}/retrainingSettings/",
        "settings",
        200,
        lambda s: {"datasetId": "include/data/churn.csv"},
        destructive=True,
    ),
    # ---- projects (dr-projects): any authenticated caller gets past authentication; projects are
    # visible to their creator and admins (tested in test_datarobot_client_projects.py). Creating
    # without a file or url is a 422; "{project_id}" is sent as is and is not a project id: 422.
    Route("POST", f"{P}/", "any", 422, lambda s: {"projectName": "from the matrix"}),
    Route("GET", f"{P}/", "any", 200),
    Route("GET", f"{P}/{{project_id}}/", "any", 422),
    Route("PATCH", f"{P}/{{project_id}}/", "any", 422, lambda s: {"projectName": "renamed"}),
    Route("DELETE", f"{P}/{{project_id}}/", "any", 422),
    Route("GET", f"{P}/{{project_id}}/options/", "any", 422),
    Route("PATCH", f"{P}/{{project_id}}/aim/", "any", 422, lambda s: {"target": "churned"}),
    Route("GET", f"{P}/{{project_id}}/status/", "any", 422),
    Route("GET", f"{P}/{{project_id}}/modelJobs/", "any", 422),
    Route("GET", f"{P}/{{project_id}}/models/", "any", 422),
    Route("GET", f"{P}/{{project_id}}/models/{{model_id}}/", "any", 422),
    *(
        Route(method, f"{P}/{{project_id}}/{{concept}}/{{rest:path}}", "any", 422)
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE")
    ),
]


def expected_status(route: Route, caller: str, credential: str) -> int:
    if credential != "right":
        return 401
    role = CALLER_ROLE[caller]
    if role in PERMITTED[route.action]:
        return route.ok
    if role is None:
        return 404
    return 403


# ---- fixtures ---------------------------------------------------------------------------------------


@dataclass
class Callers:
    """Per caller: a user name and a token for each credential state."""

    names: dict[str, str]
    tokens: dict[str, dict[str, str | None]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def callers(server: LiveServer) -> Callers:
    suffix = uuid.uuid4().hex[:6]
    names = {caller: f"{caller}-{suffix}" for caller in CALLER_ROLE}
    result = Callers(names)
    for caller, name in names.items():
        admin = caller == "admin"
        revoked = server.token(name, admin=admin)
        revoke_token(server.settings.store_url, revoked.split("_")[1])
        result.tokens[caller] = {
            "none": None,
            "malformed": "not-an-mlops-token",
            "unknown": f"mlops_{uuid.uuid4().hex[:12]}_{uuid.uuid4().hex}",
            "expired": server.token(name, admin=admin, expires_in=timedelta(milliseconds=1)),
            "revoked": revoked,
            "right": server.token(name, admin=admin),
        }
    time.sleep(0.01)  # the 1 ms tokens are past their expiry
    return result


def _deploy(server: LiveServer, callers: Callers) -> Deployment:
    return server.deploy(
        owner=callers.names["owner"],
        shares={callers.names["user"]: "USER", callers.names["consumer"]: "CONSUMER"},
    )


@pytest.fixture(scope="module")
def shared(server: LiveServer, callers: Callers) -> Deployment:
    """The deployment that cells which must not change anything are sent to."""
    return _deploy(server, callers)


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    """One keep-alive connection for the matrix's many requests; credentials go per request."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _send(
    http: httpx.Client, server: LiveServer, route: Route, deployment_id: str, token: str | None
) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = route.body(server) if route.body else None
    kwargs: dict[str, Any] = {}
    if isinstance(body, str):
        kwargs["content"] = body
        headers["Content-Type"] = "application/json"
    elif body is not None:
        kwargs["json"] = body
    path = route.path.replace("{id}", deployment_id).replace("{request_id}", UNKNOWN_REQUEST)
    path = path.replace("{status_id}", DONE_STATUS)
    if route.params:
        kwargs["params"] = route.params(server)
    return http.request(route.method, path, headers=headers, **kwargs)


def _state(deployment: Deployment) -> tuple[Any, ...]:
    fresh = Deployment.get(deployment.id, store_url=deployment.store_url)
    return (
        fresh.label,
        fresh.status,
        fresh.model["id"],
        fresh.settings,
        fresh.list_shared_roles(),
        len(fresh.get_audit_log()),
        len(fresh.get_model_history()),
    )


# ---- the tests --------------------------------------------------------------------------------------


def test_the_table_covers_every_route_of_the_app(server: LiveServer) -> None:
    served = {
        (method, getattr(route, "path", ""))
        for route in server.app.routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    in_table = {(r.method, r.template) for r in ROUTES}
    assert served - PUBLIC == in_table, "a route was added or removed: update ROUTES"


def test_the_table_agrees_with_the_documented_role_matrix() -> None:
    """Cross-check with the package's rule, so a change to either side is noticed."""
    from airflow_mlops.enums import DEPLOYMENT_ROLE
    from airflow_mlops.security import ACTIONS, allowed

    assert set(ACTIONS) == set(PERMITTED) - {"any"}
    for action in ACTIONS:
        for role in (*DEPLOYMENT_ROLE, None):
            assert allowed(role, action) == ((role.value if role else None) in PERMITTED[action]), (
                action,
                role,
            )


def test_public_routes_need_no_credential(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/openapi.json").status_code == 200
    # The standalone server has no login page: its docs stay open (inside Airflow they need a login).
    assert httpx.get(f"{server.url}/docs").status_code == 200
    assert httpx.get(f"{server.url}/static/swagger/swagger-ui.css").status_code == 200


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_by_caller_by_credential(
    http: httpx.Client, server: LiveServer, callers: Callers, shared: Deployment, route: Route
) -> None:
    before = _state(shared)
    wrong: list[str] = []
    for caller in CALLER_ROLE:
        for credential in CREDENTIALS:
            want = expected_status(route, caller, credential)
            target = shared
            if route.destructive and 200 <= want < 300:
                target = _deploy(server, callers)
            response = _send(http, server, route, target.id, callers.tokens[caller][credential])
            if response.status_code != want:
                wrong.append(
                    f"{caller:<9} {credential:<9} expected {want} got {response.status_code}: "
                    f"{response.text[:200]}"
                )
                continue
            if want == 401:
                assert response.headers.get("www-authenticate") == "Bearer"
            if want >= 400:
                assert response.json()["detail"], response.text
            if want == 404 and route.ok != 404:
                # Indistinguishable from an id that does not exist.
                assert response.json()["detail"] == f"no deployment with id {target.id!r}"
            elif want == 404:  # a caller with no role learns nothing about the deployment's requests
                hidden = CALLER_ROLE[caller] is None
                assert ("no deployment with id" in response.json()["detail"]) == hidden
    assert not wrong, f"{route}: {len(wrong)} cell(s) wrong\n" + "\n".join(wrong)
    # No refused call changed the shared deployment (its audit log included).
    assert _state(shared) == before


def test_a_succeeding_destructive_cell_did_change_its_deployment(
    http: httpx.Client, server: LiveServer, callers: Callers
) -> None:
    """The matrix's 2xx cells are real: the OWNER's calls take effect."""
    deployment = _deploy(server, callers)
    token = callers.tokens["owner"]["right"]
    by_route = {str(r): r for r in ROUTES}
    assert _send(http, server, by_route[f"PATCH {D}/{{id}}/model/"], deployment.id, token).status_code == 202
    assert Deployment.get(deployment.id).model["id"] == server.models.churn_v2
    assert _send(http, server, by_route[f"DELETE {D}/{{id}}/"], deployment.id, token).status_code == 204
    assert _send(http, server, by_route[f"GET {D}/{{id}}/"], deployment.id, token).status_code == 404


def test_unknown_deployment_ids_look_like_hidden_ones(http: httpx.Client, server: LiveServer) -> None:
    missing = "0" * 24
    for route in ROUTES:
        if "{id}" not in route.path:
            continue
        response = _send(http, server, route, missing, server.admin_token)
        assert response.status_code == 404, (str(route), response.text)
        assert response.json()["detail"] == f"no deployment with id {missing!r}", str(route)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("Basic dXNlcjpwYXNzd29yZA==", 401),  # not a scheme this API knows: no credential
        ("Bearer", 401),
        ("Bearer mlops_", 401),
        ("Token {token}", 200),  # DataRobot's spelling
        ("bearer {token}", 200),
    ],
)
def test_authorization_header_forms(server: LiveServer, header: str, status: int) -> None:
    response = httpx.get(
        f"{server.url}{D}/", headers={"Authorization": header.format(token=server.admin_token)}
    )
    assert response.status_code == status, response.text


def test_a_token_revoked_while_in_use_stops_working_within_the_stated_bound(server: LiveServer) -> None:
    name = f"eve-{uuid.uuid4().hex[:6]}"
    token = server.token(name)
    with server.client(token) as client:
        for _ in range(3):  # cached by now
            assert client.get(f"{D}/").status_code == 200
        revoke_token(server.settings.store_url, token.split("_")[1])
        time.sleep(FRESH_S)
        response = client.get(f"{D}/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
