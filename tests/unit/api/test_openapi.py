"""The OpenAPI document: served, equal to the committed ``docs/openapi.json``, complete, and fuzzed.

Neither schemathesis nor hypothesis is installed, so the fuzz is deterministic:
for every operation in the document it sends malformed path ids, query values
and bodies (wrong types, unknown fields, huge strings, nested junk) derived from
the operation's own schema, with a valid OWNER token, and requires that the
server never answers 5xx.
"""

from __future__ import annotations

import json
import runpy
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

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


def test_every_api_operation_declares_a_4xx_and_refuses_unknown_fields(served: dict[str, Any]) -> None:
    schemas = served["components"]["schemas"]
    for method, path, op in _operations(served):
        if not path.startswith(("/api/", "/predApi/")):
            continue
        assert any(code.startswith("4") for code in op["responses"]), (method, path)
        assert op.get("summary") or op.get("description"), (method, path)
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body is not None:
            name = body["$ref"].rsplit("/", 1)[-1]
            assert schemas[name].get("additionalProperties") is False, (method, path, name)
    for name, schema in schemas.items():
        if name not in ("HTTPValidationError", "ValidationError"):
            assert schema.get("additionalProperties") is False, name
    id_param = next(
        p
        for p in served["paths"][f"{D}/{{deployment_id}}/"]["get"]["parameters"]
        if p["name"] == "deployment_id"
    )
    assert id_param["schema"]["pattern"] == "^[0-9a-f]{24}$"


# ---- the fuzz ---------------------------------------------------------------------------------------

WRONG_VALUES: list[Any] = [
    None,
    True,
    -1,
    1.5e308,
    "",
    "x" * 100_000,
    "\u0000💥'; DROP TABLE deployments; --",
    [],
    [{"a": [1, {"b": None}]}],
    {"nested": {"deep": [1, 2]}},
]
BAD_IDS = [
    "x",
    "0" * 24,  # well formed, not there
    "Z" * 24,
    "0" * 23,
    "a" * 5000,
    "%00",
    "..%2F..%2Fetc",
    "💥" * 24,
    "-1",
]
BAD_QUERY: list[Any] = ["-1", "0", "abc", "1e309", "9" * 40, "", "x" * 5000, "💥%_\\", "null"]
NOT_OBJECTS = ["{", "null", "[]", '"text"', "1", "true", "[{}]", "{" * 500 + "}" * 500]
VALID_BODIES: dict[str, dict[str, Any]] = {
    "POST /fromModelPackage/": {"modelPackageId": "churn/1", "label": "fuzz"},
    "PATCH /{deployment_id}/": {"label": "fuzz"},
    "PATCH /{deployment_id}/status/": {"status": "active"},
    "POST /{deployment_id}/model/validation/": {"modelId": "churn/2"},
    "PATCH /{deployment_id}/model/": {"modelId": "churn/2", "reason": "OTHER"},
    "PATCH /{deployment_id}/sharedRoles/": {"roles": [{"username": "fuzzy", "role": "USER"}]},
}


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and ``anyOf [X, null]`` to the object schema, if there is one."""
    if "$ref" in schema:
        return _resolve(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas)
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _resolve(option, schemas)
    return schema


def mutations(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> Iterator[Any]:
    """Bodies that put a wrong value at each field (two levels into nested objects), plus unknown fields."""
    schema = _resolve(schema, schemas)
    properties = schema.get("properties", {})
    yield {"unexpectedField": 1}
    for name, prop in properties.items():
        for value in WRONG_VALUES:
            yield {name: value}
        inner = _resolve(prop, schemas)
        if depth < 2 and inner.get("properties"):
            for nested in mutations(inner, schemas, depth + 1):
                yield {name: nested}
        if depth < 2 and inner.get("type") == "array" and "items" in inner:
            item = _resolve(inner["items"], schemas)
            if item.get("properties"):
                for nested in mutations(item, schemas, depth + 1):
                    yield {name: [nested]}


def test_mutations_cover_every_field_of_a_schema(served: dict[str, Any]) -> None:
    """The generator reaches nested fields (so the fuzz below exercises them)."""
    schemas = served["components"]["schemas"]
    bodies = list(mutations({"$ref": "#/components/schemas/SettingsPatch"}, schemas))
    assert {"predictionWarning": {"customBoundaries": {"lower": "x" * 100_000}}} in bodies
    assert {"associationId": {"columnNames": None}} in bodies
    shares = list(mutations({"$ref": "#/components/schemas/SharedRolesPatch"}, schemas))
    assert {"roles": [{"role": []}]} in shares


@pytest.fixture(scope="module")
def fuzzer(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    name = f"fuzz-owner-{uuid.uuid4().hex[:6]}"
    with server.client(server.token(name)) as client:
        yield name, client


def _check(response: httpx.Response, what: str, failures: list[str]) -> None:
    if response.status_code >= 500:
        failures.append(f"{what} -> {response.status_code} {response.text[:200]}")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (m, p)
        for m, p, _op in _operations(
            json.loads(COMMITTED.read_text()) if COMMITTED.exists() else {"paths": {}}
        )
        if p not in PUBLIC
    ],
)
def test_fuzz_never_gets_a_5xx(
    server: LiveServer,
    served: dict[str, Any],
    fuzzer: tuple[str, httpx.Client],
    method: str,
    path: str,
) -> None:
    owner, client = fuzzer
    schemas = served["components"]["schemas"]
    op = served["paths"][path][method.lower()]
    deployment = server.deploy(owner=owner)
    url = path.replace("{deployment_id}", deployment.id)
    key = f"{method} {path.removeprefix(D)}"
    base = VALID_BODIES.get(key, {})
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    failures: list[str] = []
    sent = 0

    def send(what: str, **kwargs: Any) -> httpx.Response:
        nonlocal sent
        sent += 1
        response = client.request(method, kwargs.pop("url", url), **kwargs)
        _check(response, what, failures)
        return response

    send("unknown query parameters", params={"zzz": "1", "limit": "x" * 100}, json=base or None)
    # Bad ids in the path.
    if "{deployment_id}" in path:
        for bad in BAD_IDS:
            response = send(f"id {bad[:30]!r}", url=path.replace("{deployment_id}", bad), json=base or None)
            if not 400 <= response.status_code < 500:
                failures.append(f"id {bad[:30]!r} -> {response.status_code}, expected 4xx")
    # Bad query values, one parameter at a time.
    for param in op.get("parameters", []):
        if param["in"] == "query":
            for value in BAD_QUERY:
                send(f"?{param['name']}={value[:30]!r}", params={param["name"]: value}, json=base or None)
    # Bodies.
    if body_schema is not None:
        for text in NOT_OBJECTS:
            response = send(f"body {text[:30]!r}", content=text, headers={"Content-Type": "application/json"})
            if response.status_code != 422:
                failures.append(f"body {text[:30]!r} -> {response.status_code}, expected 422")
        for mutation in mutations(body_schema, schemas):
            send(f"body {json.dumps(mutation)[:80]}", json={**base, **mutation})
        send("form body", content="label=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    if path.startswith("/predApi/"):
        records = json.loads(server.rows(2))
        for text in (*NOT_OBJECTS, "a,b\n1,2", '[{"tenure_months": NaN}]'):
            send(f"prediction {text[:30]!r}", content=text, headers={"Content-Type": "application/json"})
        send("prediction csv junk", content="\x00\x01,\n\n,,", headers={"Content-Type": "text/csv"})
        for feature in server.models.features:
            for value in WRONG_VALUES:
                rows = [dict(records[0], **{feature: value}), records[1]]
                send(f"prediction {feature}={str(value)[:30]!r}", json=rows)
    assert sent > 0
    assert not failures, f"{method} {path}: {len(failures)} of {sent} requests failed\n" + "\n".join(
        failures[:30]
    )
