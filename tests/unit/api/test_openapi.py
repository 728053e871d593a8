"""The OpenAPI document: served, equal to the committed ``docs/openapi.json``, complete, and fuzzed.

The fuzz is schemathesis (Hypothesis underneath) over the app's own
``/openapi.json``, by real HTTP to the module's live server:

- ``test_fuzz_operation``: every operation, valid and invalid requests (path,
  query and body), as the OWNER of a real deployment;
- ``test_fuzz_stateful_sequences``: sequences along the document's links
  (create, read, update, replace, share, deactivate, delete) with the token of
  each role (OWNER, USER, CONSUMER) and an admin token.

Every answer must be no 5xx, a documented status, content type and body, and
every 4xx JSON with a ``message`` naming the field (``openapi_fuzz``). The
examples are bounded and derandomized (the same on every run, no example
database), so ``make test`` runs it as plain pytest. A failure it finds is kept
as a plain test with the exact request in ``test_fuzz_regressions.py``.
"""

from __future__ import annotations

import json
import runpy
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.stateful import Bundle, initialize
from openapi_fuzz import checks, fuzz_settings, stateful_checks, steer_models
from schemathesis import Case, GenerationMode
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from airflow_mlops.serving.openapi import REGENERATE, render

if TYPE_CHECKING:
    from conftest import LiveServer

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "docs" / "openapi.json"
HOW = f"docs/openapi.json is out of date; regenerate it with:\n    {REGENERATE}"

D = "/api/v2/deployments"
#: The paths the issue names, DataRobot's spelling.
ISSUE_PATHS = {
    f"{D}/",
    f"{D}/fromModelPackage/",
    f"{D}/{{deployment_id}}/",
    f"{D}/{{deployment_id}}/model/validation/",
    f"{D}/{{deployment_id}}/model/",
    f"{D}/{{deployment_id}}/settings/",
    f"{D}/{{deployment_id}}/modelHistory/",
    f"{D}/{{deployment_id}}/healthSettings/",
    "/predApi/v1.0/deployments/{deployment_id}/predictions",
}
PUBLIC = {"/health"}


@pytest.fixture(scope="module")
def served(server: LiveServer) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in sorted(doc["paths"].items()):
        for method, op in sorted(item.items()):
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, op


# ---- the document ---------------------------------------------------------------------------------


def test_the_served_document_is_the_committed_one(served: dict[str, Any]) -> None:
    assert COMMITTED.exists(), HOW
    committed = json.loads(COMMITTED.read_text())
    if served != committed:
        print(HOW)
    assert served == committed, HOW
    assert COMMITTED.read_text() == render(served), HOW  # and in the canonical form


def test_the_regenerate_command_prints_the_committed_document(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m airflow_mlops.serving.openapi`` (run in-process: the same module, without a 10 s start-up)."""
    with pytest.raises(SystemExit) as done, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # runpy: the module is already imported
        runpy.run_module("airflow_mlops.serving.openapi", run_name="__main__", alter_sys=False)
    assert done.value.code == 0
    assert capsys.readouterr().out == COMMITTED.read_text(), HOW


def test_every_path_of_the_issue_is_documented(served: dict[str, Any]) -> None:
    assert served["openapi"].startswith("3.")
    assert served["info"]["title"] == "airflow-mlops"
    assert set(served["paths"]) >= ISSUE_PATHS, sorted(ISSUE_PATHS - set(served["paths"]))
    assert "patch" in served["paths"][f"{D}/{{deployment_id}}/model/"]
    assert "post" in served["paths"][f"{D}/{{deployment_id}}/model/validation/"]
    assert {"get", "patch", "delete"} <= set(served["paths"][f"{D}/{{deployment_id}}/"])
    assert {"get", "patch"} <= set(served["paths"][f"{D}/{{deployment_id}}/settings/"])
    assert {"get", "patch"} <= set(served["paths"][f"{D}/{{deployment_id}}/healthSettings/"])


def test_every_api_operation_declares_its_errors_and_refuses_unknown_fields(served: dict[str, Any]) -> None:
    """Every 4xx an API route can give is documented, with the one error body (what the fuzz checks)."""
    schemas = served["components"]["schemas"]
    error = {"$ref": "#/components/schemas/ApiError"}
    for method, path, op in _operations(served):
        if not path.startswith(("/api/", "/predApi/")):
            continue
        assert {"401", "403", "404", "422"} <= set(op["responses"]), (method, path)
        for code, response in op["responses"].items():
            if code.startswith("4"):
                assert response["content"] == {"application/json": {"schema": error}}, (method, path, code)
        assert op.get("summary") or op.get("description"), (method, path)
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body is not None and "$ref" in body:
            name = body["$ref"].rsplit("/", 1)[-1]
            assert schemas[name].get("additionalProperties") is False, (method, path, name)
    for name, schema in schemas.items():
        assert schema.get("additionalProperties") is False, name
    assert schemas["ApiError"]["required"] == ["message", "detail"]
    id_param = next(
        p
        for p in served["paths"][f"{D}/{{deployment_id}}/"]["get"]["parameters"]
        if p["name"] == "deployment_id"
    )
    assert id_param["schema"]["pattern"] == "^[0-9a-f]{24}$"


# ---- the fuzz (schemathesis) ------------------------------------------------------------------------

#: Roles whose tokens drive the sequences; "ADMIN" is an admin token (OWNER of every deployment).
ROLES = ("OWNER", "USER", "CONSUMER", "ADMIN")
#: The operations that create a deployment: always called as its OWNER, who then shares it.
CREATES = {f"{D}/fromModelPackage/", f"{D}/fromLearningModel/"}
OPERATIONS = [
    (m, p)
    for m, p, _op in _operations(json.loads(COMMITTED.read_text()) if COMMITTED.exists() else {"paths": {}})
]


@dataclass
class Fuzz:
    server: LiveServer
    schema: schemathesis.BaseSchema
    names: dict[str, str]  # role -> user name (not "ADMIN": its token is the server's admin token)
    tokens: dict[str, str]
    session: requests.Session

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module")
def fuzz(
    server: LiveServer, served: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzz]:
    """The app's own /openapi.json as a schemathesis schema against the live server, and a token per role."""
    # No example database (``fuzz_settings``), and Hypothesis's caches out of the work tree too.
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    schema.config.update(base_url=server.url)
    steer_models(schema, [server.models.churn_v1, server.models.churn_v2])
    tag = uuid.uuid4().hex[:6]
    names = {role: f"fuzz-{role.lower()}-{tag}" for role in ROLES[:3]}
    tokens = {role: server.token(name) for role, name in names.items()}
    tokens["ADMIN"] = server.admin_token
    with requests.Session() as session:
        yield Fuzz(server, schema, names, tokens, session)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzz_operation(fuzz: Fuzz, method: str, path: str) -> None:
    """Valid and invalid requests to one operation, as the OWNER of a real deployment.

    Positive cases go to a deployment the caller owns (a random id would only
    ever be a 404); negative ones keep their generated path, so malformed ids
    are sent too. Nothing is excluded: a project POST carries no file or url
    (the document describes no body for it) so it starts no sweep.
    """
    operation = fuzz.schema[path][method]
    real: dict[str, Any] | None = None
    if "{deployment_id}" in path:
        real = {"deployment_id": fuzz.server.deploy(owner=fuzz.names["OWNER"]).id}
    strategy = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )
    headers = fuzz.headers("OWNER")

    @fuzz_settings()
    @given(case=strategy)
    def run(case: Case) -> None:
        case.call_and_validate(session=fuzz.session, headers=headers, checks=checks())

    run()


def _naming(case: Case, model: str) -> StepInput:
    """The create ``case`` naming ``model``, as a sequence's first step."""
    assert isinstance(case.body, dict)
    case.body["modelPackageId"] = model
    return StepInput.initial(case)


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_stateful_sequences(fuzz: Fuzz, role: str) -> None:
    """Sequences along the document's links (create, read, update, replace, share, deactivate, delete).

    A create is sent with the OWNER's token, and the new deployment is shared
    with the USER and the CONSUMER, so every later step runs with ``role``'s
    token on a deployment it has that role on; an admin token does everything
    itself. Besides every single-response check, a deleted deployment must be
    gone and a created one there.
    """
    creator = role if role in ("OWNER", "ADMIN") else "OWNER"
    seen: list[tuple[str, int]] = []

    create = fuzz.schema[f"{D}/fromModelPackage/"]["POST"].as_strategy(GenerationMode.POSITIVE)
    model = fuzz.server.models.churn_v1

    class Sequences(fuzz.schema.as_state_machine()):  # type: ignore[misc]
        # schemathesis starts no sequence at a create (it sees modelPackageId as a reference to a
        # resource the API cannot make), so every sequence starts with one here.
        @initialize(target=Bundle("catch_all"), input=create.map(lambda c: _naming(c, model)))
        def create_a_deployment(self, input: StepInput) -> StepOutput:
            self.recorder.record_case(case=input.case)
            return self._step(input)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            who = creator if case.operation.path in CREATES else role
            return {"headers": fuzz.headers(who), "session": fuzz.session}

        def after_call(self, response: schemathesis.Response, case: Case) -> None:
            super().after_call(response, case)
            seen.append((f"{case.operation.method.upper()} {case.operation.path}", response.status_code))
            if case.operation.path in CREATES and response.status_code == 201 and creator != role:
                shared = fuzz.session.patch(
                    f"{fuzz.server.url}{D}/{response.json()['id']}/sharedRoles/",
                    json={"roles": [{"username": fuzz.names[role], "role": role}]},
                    headers=fuzz.headers(creator),
                )
                assert shared.status_code == 204, shared.text

        def validate_response(
            self,
            response: schemathesis.Response,
            case: Case,
            additional_checks: list[Any] | None = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response, checks=stateful_checks(), transport_kwargs=kwargs or None, recorder=self.recorder
            )

    Sequences.run(settings=fuzz_settings(max_examples=8, stateful_step_count=6))
    # The sequences got past the create: the role's token was used on a deployment that exists.
    assert (f"POST {D}/fromModelPackage/", 201) in seen, seen
    on_it = {code for what, code in seen if "{deployment_id}" in what}
    assert on_it & ({403} if role == "CONSUMER" else {200, 202, 204}), seen
