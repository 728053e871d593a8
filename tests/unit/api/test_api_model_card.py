"""``GET …/modelCard/`` over real HTTP: linked from the deployment, HTML by default, current after a replacement."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import LiveServer

D = "/api/v2/deployments"


@pytest.fixture
def owner(server: LiveServer) -> Iterator[tuple[str, httpx.Client]]:
    name = f"mia-{uuid.uuid4().hex[:8]}"
    with server.client(server.token(name)) as client:
        yield name, client


def test_the_deployment_links_its_card_served_as_html_markdown_or_json(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    deployment = server.deploy(owner=name)
    link = client.get(f"{D}/{deployment.id}/").json()["modelCard"]["url"]
    assert link == f"{D}/{deployment.id}/modelCard/"

    html = client.get(link)
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["content-security-policy"] == "sandbox"
    assert f"<h1>Model card: {server.models.churn_v1}</h1>" in html.text

    markdown = client.get(link, params={"format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "## Replacement history" in markdown.text

    card = client.get(link, params={"format": "json"}).json()
    assert card["model_id"] == server.models.churn_v1 and card["owner"] == name


def test_after_a_replacement_the_card_is_the_new_models_with_the_entry(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    deployment = server.deploy(owner=name)
    replaced = client.patch(
        f"{D}/{deployment.id}/model/", json={"modelId": server.models.churn_v2, "reason": "DATA_DRIFT"}
    )
    assert replaced.status_code == 202, replaced.text
    card = client.get(f"{D}/{deployment.id}/modelCard/", params={"format": "json"}).json()
    assert card["model_id"] == server.models.churn_v2
    assert [h["reason"] for h in card["deployment"]["history"]] == ["INITIAL", "DATA_DRIFT"]
    assert card["deployment"]["history"][-1]["actor"] == name


def test_a_bad_format_is_refused_naming_the_valid_ones(
    server: LiveServer, owner: tuple[str, httpx.Client]
) -> None:
    name, client = owner
    deployment = server.deploy(owner=name)
    answer = client.get(f"{D}/{deployment.id}/modelCard/", params={"format": "pdf"})
    assert answer.status_code == 422
    assert "format" in answer.json()["message"] and "'pdf'" in answer.json()["message"]
    assert "'html'" in answer.json()["message"] and "'markdown'" in answer.json()["message"]
