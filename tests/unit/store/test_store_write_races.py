"""Read-then-decide writes racing from two processes on one SQLite store: one decision wins, none is lost.

Two monitors asking to retrain a deployment at the same moment, two DAG tasks
replacing its model: each is a separate process with its own connection. Each
round the two racers (:mod:`helpers.racers`, started once for this module: their
imports cost far more than the rounds) make the same call together. Each pauses
right after the read its decision rests on (an SQLAlchemy event in the child),
so that without the write lock taken up front (``session_scope(write=True)``,
``BEGIN IMMEDIATE`` on SQLite) both would read the old state and both write,
every round. With it the second waits for the first to commit and sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

import pytest
from helpers.racers import Racers, racers

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.retraining import list_requests

if TYPE_CHECKING:
    from conftest import RegisteredModels

T = datetime(2024, 6, 1, 12, tzinfo=UTC)
ROUNDS = 5

RACER = """
import time
from datetime import datetime

from sqlalchemy import event

from airflow_mlops.deployments import Deployment
from airflow_mlops.retraining import request_retraining
from airflow_mlops.store import get_engine

state = {"pause_after": None, "deployment": None, "watched": set()}


def pause(conn, cursor, statement, parameters, context, executemany):
    # Widens the race: the other racer reads before this one writes, unless it is locked out.
    table = state["pause_after"]
    if table and statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement:
        state["pause_after"] = None
        time.sleep(0.3)


def run(command):
    store_url = command["store_url"]
    if store_url not in state["watched"]:
        event.listen(get_engine(store_url), "after_cursor_execute", pause)
        state["watched"].add(store_url)
    if command["op"] == "request":
        state["pause_after"] = "retraining_requests"  # the cool-down read
        request = request_retraining(
            command["deployment_id"],
            command["reason"],
            origin="monitor",
            requested_at=datetime.fromisoformat(command["at"]),
            store_url=store_url,
        )
        return {"id": request.id, "status": request.status, "message": request.message}
    if command["op"] == "load":
        state["deployment"] = Deployment.get(command["deployment_id"], store_url=store_url)
        return {"model": state["deployment"].model["id"]}
    # Validation reads only the registry: the next store read is the row inside the transaction.
    state["pause_after"] = "deployments"
    state["deployment"].replace_model(command["to"], "DATA_DRIFT", actor=command["actor"])
    return {"replaced": True}
"""


@pytest.fixture(scope="module")
def pair(registered_models: RegisteredModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Racers]:
    env = {
        "MLOPS_HOME": str(tmp_path_factory.mktemp("racers")),  # each command names its test's store
        "MLFLOW_TRACKING_URI": registered_models.tracking_uri,
        "MLFLOW_REGISTRY_URI": registered_models.tracking_uri,
    }
    with racers(RACER, 2, env=env) as started:
        yield started


def _sqlite_store() -> str:
    store_url = get_settings().store_url
    assert store_url.startswith("sqlite"), store_url
    return store_url


def test_two_monitors_racing_through_the_cool_down_get_one_request_accepted(
    models: RegisteredModels, pair: Racers
) -> None:
    store_url = _sqlite_store()
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "Race", owners=["alice"])
    common = {"op": "request", "store_url": store_url, "deployment_id": deployment.id}
    for index in range(ROUNDS):
        at = (T + timedelta(days=2 * index)).isoformat()  # rounds are two cool-downs (P1D) apart
        results = pair.round(
            [{**common, "reason": "DATA_DRIFT", "at": at}, {**common, "reason": "ACCURACY", "at": at}]
        )
        assert sorted(r["status"] for r in results) == ["requested", "suppressed"], (index, results)
        accepted = next(r for r in results if r["status"] == "requested")
        suppressed = next(r for r in results if r["status"] == "suppressed")
        assert f"within the cool-down (P1D) of request {accepted['id']}" in suppressed["message"]

    stored = list_requests(deployment.id)
    assert sorted(r.status for r in stored) == ["requested"] * ROUNDS + ["suppressed"] * ROUNDS


def test_concurrent_replacements_each_record_one_history_entry_in_a_consistent_chain(
    models: RegisteredModels, pair: Racers
) -> None:
    store_url = _sqlite_store()
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "Race", owners=["alice"])
    before = deployment.get_model_history()
    common = {"store_url": store_url, "deployment_id": deployment.id}

    actors = []
    for index in range(ROUNDS):
        loaded = pair.round([{**common, "op": "load"}] * 2)
        assert loaded[0] == loaded[1], loaded  # both validate against the same current model
        target = models.churn_v2 if loaded[0]["model"] == models.churn_v1 else models.churn_v1
        names = [f"racer{racer}-round{index}" for racer in range(2)]
        actors += names
        commands = [{**common, "op": "replace", "to": target, "actor": name} for name in names]
        assert pair.round(commands) == [{"replaced": True}] * 2

    history = Deployment.get(deployment.id).get_model_history()
    assert history[: len(before)] == before
    added = history[len(before) :]
    assert sorted(entry["actor"] for entry in added) == sorted(actors)  # one entry per replacement
    chain = [(entry["old_model_version"], entry["new_model_version"]) for entry in history]
    for previous, entry in pairwise(chain):
        assert entry[0] == previous[1], f"lost update: {entry} follows {previous} in {chain}"
    assert Deployment.get(deployment.id).model["version"] == chain[-1][1]
