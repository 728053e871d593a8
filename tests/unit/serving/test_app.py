"""The prediction and management app, served by uvicorn on loopback and called over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
import pytest
from helpers.live_server import serve_app
from serving_helpers import Live, serve
from sqlalchemy import update

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.prediction_log import feature_frame, list_log_files, read_log_files
from airflow_mlops.registry import load_model
from airflow_mlops.security import create_token
from airflow_mlops.serving.app import create_app
from airflow_mlops.store import DeploymentRow, session_scope

if TYPE_CHECKING:
    from conftest import RegisteredModels

LABEL = "Churn <EU> & co"
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def live(models: RegisteredModels) -> Iterator[Live]:
    """The real app under uvicorn in a thread, with one deployment serving churn/1."""
    with serve(Deployment.create_from_registered_model_version(models.churn_v1, LABEL)) as server:
        yield server


def _rows(n: int, seed: int = 11) -> pd.DataFrame:
    """Scoring rows: the churn features plus each row's event time, without the label."""
    return make_churn(n, seed=seed, start=T0, hours=3).drop(columns=["customer_id", "churned"])


def _json(frame: pd.DataFrame) -> str:
    return str(frame.to_json(orient="records", date_format="iso"))


def _proba_of_one(data: list[dict[str, Any]]) -> list[float]:
    return [next(v["value"] for v in row["predictionValues"] if v["label"] == 1) for row in data]


# ---- predictions --------------------------------------------------------------------------------


def test_json_records_get_datarobot_shaped_predictions(live: Live, models: RegisteredModels) -> None:
    frame = _rows(25)
    response = live.predict(_json(frame))
    assert response.status_code == 200, response.text
    assert response.headers["X-MLOps-Model-Id"] == "churn/1"
    assert float(response.headers["X-MLOps-Execution-Time"]) > 0
    data = response.json()["data"]
    assert [row["rowId"] for row in data] == list(range(25))
    for row in data:
        assert {v["label"] for v in row["predictionValues"]} == {0, 1}
        assert sum(v["value"] for v in row["predictionValues"]) == pytest.approx(1.0)
        best = max(row["predictionValues"], key=lambda v: v["value"])
        assert row["prediction"] == best["label"]
    # The served numbers are the registered model's own.
    model = load_model(models.churn_v1, tracking_uri=models.tracking_uri)
    expected = model.predict_proba(frame[models.features])[:, 1]
    np.testing.assert_allclose(_proba_of_one(data), expected, rtol=1e-9)


def test_csv_gives_the_same_predictions_as_json(live: Live) -> None:
    frame = _rows(10).drop(columns=["event_time"])
    from_json = live.predict(_json(frame))
    from_csv = live.predict(frame.to_csv(index=False), "text/csv; charset=utf-8")
    assert from_csv.status_code == 200, from_csv.text
    assert from_csv.headers["X-MLOps-Model-Id"] == "churn/1"
    assert [r["rowId"] for r in from_csv.json()["data"]] == list(range(10))
    np.testing.assert_allclose(
        _proba_of_one(from_csv.json()["data"]), _proba_of_one(from_json.json()["data"])
    )


def test_a_missing_feature_column_is_named(live: Live) -> None:
    response = live.predict(_json(_rows(3).drop(columns=["support_calls"])))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "row 0" in detail and "'support_calls'" in detail


def test_an_unknown_deployment_is_404(live: Live) -> None:
    response = live.client.post(
        "/predApi/v1.0/deployments/no-such-deployment/predictions", content=_json(_rows(1))
    )
    assert response.status_code == 404
    assert "'no-such-deployment'" in response.json()["detail"]


@pytest.mark.parametrize("body", ["", "  \n"])
def test_an_empty_body_is_422(live: Live, body: str) -> None:
    response = live.predict(body)
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


def test_a_body_that_is_not_json_records_is_422(live: Live) -> None:
    response = live.predict("tenure_months=3")
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]


def test_a_bad_timestamp_names_its_row(live: Live) -> None:
    frame = _rows(4)
    records = frame.assign(event_time=frame["event_time"].map(lambda t: t.isoformat())).to_dict("records")
    records[2]["event_time"] = "yesterday"
    response = live.predict(pd.DataFrame(records).to_json(orient="records"), timestampColumn="event_time")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "row 2" in detail and "'event_time'" in detail and "'yesterday'" in detail

    missing = live.predict(_json(frame.drop(columns=["event_time"])), timestampColumn="event_time")
    assert missing.status_code == 422
    assert "'event_time'" in missing.json()["detail"]


def test_iso_timestamps_with_and_without_fractions_are_accepted(live: Live) -> None:
    # datetime.isoformat() drops the fraction when it is zero, so one batch can mix both forms.
    frame = _rows(3)
    stamps = [T0.isoformat(), (T0 + timedelta(microseconds=500_000)).isoformat(), "2024-03-01T10:00:00Z"]
    body = frame.assign(event_time=stamps).to_json(orient="records")
    response = live.predict(body, timestampColumn="event_time")
    assert response.status_code == 200, response.text


def test_an_unseen_category_value_is_scored(live: Live) -> None:
    frame = _rows(3)
    frame["contract"] = frame["contract"].astype(object)
    frame.loc[1, "contract"] = "lifetime"
    response = live.predict(_json(frame))
    assert response.status_code == 200, response.text
    row = response.json()["data"][1]
    assert sum(v["value"] for v in row["predictionValues"]) == pytest.approx(1.0)


def test_an_inactive_deployment_refuses_predictions(live: Live) -> None:
    assert live.predict(_json(_rows(1))).status_code == 200
    with session_scope(live.settings.store_url) as session:
        session.execute(
            update(DeploymentRow).where(DeploymentRow.id == live.deployment.id).values(status="inactive")
        )
    deadline = time.monotonic() + 5
    response = live.predict(_json(_rows(1)))
    while response.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = live.predict(_json(_rows(1)))
    assert response.status_code == 422
    assert "inactive" in response.json()["detail"]


def test_predictions_are_logged_with_their_timestamps(live: Live, models: RegisteredModels) -> None:
    frame = _rows(30)  # event times spread over 3 hours from T0
    response = live.predict(_json(frame), timestampColumn="event_time")
    assert response.status_code == 200, response.text
    live.app.state.prediction_log.flush()

    root = live.settings.prediction_log_dir
    files = list_log_files(root, live.deployment.id)
    hours = {f.parent.name for f in files}
    assert hours == {f"hour={t:%Y%m%dT%H}" for t in frame["event_time"]}
    assert len(hours) > 1
    logged = read_log_files(files)
    assert len(logged) == 30
    assert set(logged["deployment_id"]) == {live.deployment.id}
    assert set(logged["model_version"]) == {"1"}
    assert set(logged["status_code"]) == {200}
    assert list(logged["timestamp"]) == list(frame["event_time"])
    sent = frame[models.features].reset_index(drop=True)
    got = feature_frame(logged)[models.features]
    for name in models.features:
        assert list(got[name].astype(str)) == list(sent[name].astype(str)), name
    np.testing.assert_allclose(logged["prediction"], _proba_of_one(response.json()["data"]))
    # An hour window selects only that hour's partition.
    first_hour = list_log_files(root, live.deployment.id, start=T0, end=T0)
    assert {f.parent.name for f in first_hour} == {f"hour={T0:%Y%m%dT%H}"}


# ---- management routes ---------------------------------------------------------------------------


def test_list_deployments_has_datarobot_shape(live: Live, models: RegisteredModels) -> None:
    other = Deployment.create_from_registered_model_version(models.churn_v2, "fraud", importance="LOW")
    body = live.client.get("/api/v2/deployments/").json()
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    by_id = {d["id"]: d for d in body["data"]}
    assert set(by_id) == {live.deployment.id, other.id}
    mine = by_id[live.deployment.id]
    assert set(mine) == {
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
        "latestReport",
        "defaultPredictionServer",
        "modelCard",
        "modelPackage",
    }
    assert mine["label"] == LABEL
    assert mine["status"] == "active"
    assert {
        k: mine["model"][k] for k in ("id", "registeredModelName", "version", "targetName", "targetType")
    } == {
        "id": "churn/1",
        "registeredModelName": "churn",
        "version": "1",
        "targetName": "churned",
        "targetType": "Binary",
    }
    assert mine["modelHealth"] == {
        "status": "unknown",
        "message": "no drift computed yet",
        "startDate": None,
        "endDate": None,
    }
    assert datetime.fromisoformat(mine["createdAt"]) == live.deployment.created_at
    assert by_id[other.id]["importance"] == "LOW"

    searched = live.client.get("/api/v2/deployments/", params={"search": "FRA"}).json()
    assert [d["id"] for d in searched["data"]] == [other.id]
    assert searched["count"] == 1

    single = live.client.get(f"/api/v2/deployments/{live.deployment.id}/")
    assert single.json() == mine
    assert live.client.get(f"/api/v2/deployments/{'0' * 24}/").status_code == 404
    assert live.client.get("/api/v2/deployments/nope/").status_code == 422


def test_model_history_route(live: Live, models: RegisteredModels) -> None:
    live.deployment.replace_model(models.churn_v2, "ACCURACY", actor="carol")
    response = live.client.get(f"/api/v2/deployments/{live.deployment.id}/modelHistory/")
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    assert [(h["oldModelVersion"], h["newModelVersion"], h["reason"], h["actor"]) for h in body["data"]] == [
        (None, "1", "INITIAL", body["data"][0]["actor"]),
        ("1", "2", "ACCURACY", "carol"),
    ]
    assert all(datetime.fromisoformat(h["timestamp"]).tzinfo is not None for h in body["data"])
    assert live.client.get(f"/api/v2/deployments/{'0' * 24}/modelHistory/").status_code == 404


# ---- hot swap -------------------------------------------------------------------------------------


def test_replacing_the_model_swaps_it_under_steady_traffic(live: Live, models: RegisteredModels) -> None:
    body = _json(_rows(5))
    answers: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=live.url, timeout=30, headers=live.client.headers) as client:
            while not stop.is_set():
                try:
                    r = client.post(
                        f"/predApi/v1.0/deployments/{live.deployment.id}/predictions",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
                    answers.append((time.monotonic(), r.status_code, r.headers.get("X-MLOps-Model-Id", "")))
                except httpx.HTTPError as exc:
                    answers.append((time.monotonic(), -1, repr(exc)))

    # Warm the cache first, so the first streamed answer cannot race the replacement.
    assert live.predict(body).headers["X-MLOps-Model-Id"] == "churn/1"
    sender = threading.Thread(target=traffic, name="test-traffic")
    sender.start()
    try:
        time.sleep(0.3)
        live.deployment.replace_model(models.churn_v2, "DATA_DRIFT")
        replaced_at = time.monotonic()
        deadline = replaced_at + 2.0
        swapped_at = None
        while time.monotonic() < deadline:
            if answers and answers[-1][2] == "churn/2":
                swapped_at = answers[-1][0]
                break
            time.sleep(0.02)
        time.sleep(0.3)  # keep sending a while on the new model
    finally:
        stop.set()
        sender.join(30)

    assert swapped_at is not None, f"still {answers[-1][2]} 2 s after the replacement"
    assert swapped_at - replaced_at < 2.0
    failures = [a for a in answers if a[1] != 200]
    assert failures == []
    served = [a[2] for a in answers]
    assert served[0] == "churn/1"
    assert served[-1] == "churn/2"
    # One switch, never back: every churn/1 answer precedes every churn/2 answer.
    first_new = served.index("churn/2")
    assert set(served[:first_new]) == {"churn/1"}
    assert set(served[first_new:]) == {"churn/2"}
    assert len(answers) >= 10
    # The swap happened in the running server; a fresh request sees it too.
    assert live.predict(body).headers["X-MLOps-Model-Id"] == "churn/2"


def test_predictions_are_flushed_when_the_server_stops(models: RegisteredModels) -> None:
    """Shutting the app down writes rows still buffered (the writer waits up to 1 s otherwise)."""
    settings = get_settings()
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "shutdown")
    app = create_app(settings)
    frame = _rows(7).drop(columns=["event_time"])
    _info, token = create_token(settings.store_url, user="tester", is_admin=True)
    with serve_app(app) as url:
        response = httpx.post(
            f"{url}/predApi/v1.0/deployments/{deployment.id}/predictions",
            content=frame.to_csv(index=False),
            headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200
    logged = read_log_files(list_log_files(settings.prediction_log_dir, deployment.id))
    assert len(logged) == 7


def test_csv_body_that_cannot_be_parsed(live: Live) -> None:
    response = live.predict('a,b\n"unterminated', "text/csv")
    assert response.status_code == 422
    assert "CSV" in response.json()["detail"]
