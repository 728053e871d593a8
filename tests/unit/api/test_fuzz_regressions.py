"""Requests the schemathesis fuzz (``test_openapi.py``) found answered wrongly, kept as plain tests.

Each test sends the request that failed, as schemathesis reported it, and
checks the answer the document promises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import LiveServer

D = "/api/v2/deployments"
#: Not UTF-8: FastAPI cannot even decode it, so it answered an undocumented 400 that named no field.
NOT_UTF8 = b"\x07a\xff;"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{D}/fromModelPackage/"),
        ("POST", f"{D}/fromLearningModel/"),
        ("POST", f"{D}/{{id}}/actuals/fromJSON/"),
        ("PATCH", f"{D}/{{id}}/sharedRoles/"),
        ("PATCH", "/api/v2/projects/501c8dc6f5d05d0044009f19/"),
    ],
)
def test_a_json_body_that_is_not_utf8_is_a_422_naming_the_body(
    server: LiveServer, method: str, path: str
) -> None:
    owner = "fuzz-regression-owner"
    url = path.replace("{id}", server.deploy(owner=owner).id)
    with server.client(server.token(owner)) as client:
        response = client.request(method, url, content=NOT_UTF8, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"] == "body: not valid JSON: expected a JSON document in UTF-8"


def test_malformed_json_names_the_body_and_where(server: LiveServer) -> None:
    """FastAPI's ``loc`` is ``["body", 3]``: the message said ``3: JSON decode error``, naming no field."""
    owner = "fuzz-regression-owner"
    with server.client(server.token(owner)) as client:
        response = client.post(
            f"{D}/fromModelPackage/", content=b'{"a"', headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert message.startswith("body: not valid JSON: "), message
    assert "at character 4" in message, message
