"""Connecting with DataRobot's official client: its version check, its token scheme, its error handler.

``dr.Client`` asks ``version/`` before anything else and gives up without a
``versionString``; every later error it raises carries the ``message`` of our
JSON answer, which is how a user sees what went wrong.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import datarobot as dr
import pytest
from datarobot.errors import ClientError

if TYPE_CHECKING:
    from conftest import LiveServer


def test_the_official_client_connects_with_its_own_token_scheme(server: LiveServer) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = dr.Client(token=server.admin_token, endpoint=f"{server.url}/api/v2")
    # a server version it finds too old or too new would warn (urllib3's own FutureWarning is not ours)
    assert not [w for w in caught if "version" in str(w.message).lower()], [str(w.message) for w in caught]
    assert client.headers["Authorization"].startswith("Token ")  # DataRobot's scheme, not Bearer
    version = client.get("version/").json()
    assert version["versionString"] == "2.49.0" and (version["major"], version["minor"]) == (2, 49)


def test_a_wrong_token_is_reported_at_connect_time(server: LiveServer) -> None:
    with pytest.raises(ClientError, match="Unable to authenticate") as raised:
        dr.Client(token="mlops_000000000000_" + "0" * 32, endpoint=f"{server.url}/api/v2")
    assert raised.value.status_code == 401


def test_errors_reach_the_user_with_our_message(server: LiveServer) -> None:
    client = dr.Client(token=server.admin_token, endpoint=f"{server.url}/api/v2")
    with pytest.raises(ClientError) as missing:
        client.get("deployments/" + "0" * 24 + "/")
    assert missing.value.status_code == 404
    assert "no deployment with id '000000000000000000000000'" in str(missing.value)
    with pytest.raises(ClientError) as invalid:
        client.get("deployments/", params={"limit": 0})
    assert invalid.value.status_code == 422
    assert invalid.value.json["message"].startswith("limit: "), invalid.value.json
    assert "got '0'" in invalid.value.json["message"]
