"""mlops_monitor through dag.test() over simulated hours: three verdicts per run, idempotent re-runs,
actuals joined, an Evidently report in MLflow, a retrain request when drift fails."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring import build_baseline
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
from airflow_mlops.prediction_log import PredictionLogWriter
from airflow_mlops.store import DeploymentRow, session_scope

H0 = datetime(2024, 5, 1, 0, tzinfo=UTC)


@pytest.fixture
def home(airflow_db: Path, mlops_home: Path) -> Path:
    return mlops_home


def _deploy() -> str:
    settings = get_settings()
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"tenure": rng.normal(40, 10, 3000), "plan": rng.choice(["a", "b"], 3000)})
    baseline = build_baseline(train, prediction=pd.Series(rng.beta(2, 5, 3000)), prediction_name="churned")
    baseline.task, baseline.positive_class = "binary", "1"
    baseline.holdout_metrics = {"LogLoss": 0.6}
    baseline.sample = train.head(300).to_dict(orient="records")
    dep = "a" * 24
    insert_deployment_with_baseline(
        settings.store_url, dep, baseline, label="dag", registered_model_name="churn", target_name="churned"
    )
    return dep


def _simulate(dep: str, hours: range, *, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for h in hours:
        for i in range(150):
            rows.append(
                {
                    "timestamp": H0 + timedelta(hours=h, seconds=int(rng.integers(0, 3600))),
                    "association_id": f"{h}-{i}",
                    "model_version": "1",
                    "prediction": float(rng.beta(2, 5)),
                    "status_code": 200,
                    "latency_ms": float(rng.uniform(5, 50)),
                    "features": {
                        "tenure": float(rng.normal(40 + shift, 10)),
                        "plan": str(rng.choice(["a", "b"])),
                    },
                }
            )
    with PredictionLogWriter(get_settings().prediction_log_dir) as writer:
        writer.append(dep, rows)


def test_mlops_monitor_over_simulated_hours(home: Path) -> None:
    from airflow_mlops.dag_runs import asset_events, run_dag, xcom_result

    dep = _deploy()
    _simulate(dep, range(0, 6), shift=0.0, seed=1)
    d = Deployment.get(dep)
    # Labels here are coin flips, so accuracy may fail; this policy retrains on drift only.
    d.update_retraining_settings(trigger_reasons=["DATA_DRIFT"])
    d.submit_actuals(
        [{"association_id": f"{h}-{i}", "actual_value": i % 2} for h in range(6) for i in range(40)]
    )

    conf = {"window_end": (H0 + timedelta(hours=6)).isoformat(), "window_hours": 6}
    first = xcom_result(run_dag("mlops_monitor", conf), "monitor")[0]
    assert first["folded_rows"] == 900 and first["actuals_joined"] == 240
    assert (first["service_status"], first["drift_status"]) == ("passing", "passing")
    assert (
        first["accuracy_status"] in ("passing", "warning", "failing")
        and "holdout" in first["accuracy_message"]
    )
    assert first["service_stats"]["totalPredictions"] == 900
    report = Path(urlparse(first["report_uri"]).path)
    assert report.is_file() and str(home) in str(report)  # under MLOPS_HOME, not the working directory
    assert "tenure" in report.read_text()
    assert d.get_monitoring_reports()[0]["uri"] == first["report_uri"]

    again = xcom_result(run_dag("mlops_monitor", conf), "monitor")[0]
    assert again["folded_rows"] == 0 and again["service_stats"] == first["service_stats"]
    assert again["accuracy"] == first["accuracy"]

    started = datetime.now(UTC)
    _simulate(dep, range(6, 12), shift=25.0, seed=2)
    shifted = xcom_result(
        run_dag(
            "mlops_monitor",
            {"window_end": (H0 + timedelta(hours=12)).isoformat(), "window_hours": 6, "report": False},
        ),
        "monitor",
    )[0]
    assert shifted["drift_status"] == "failing" and "tenure" in shifted["drift_message"]
    assert shifted["report_uri"] is None
    assert shifted["retrain_request"]["reason"] == "DATA_DRIFT"
    assert shifted["retrain_request"]["status"] == "requested"
    # The request's evidence carries the drift rule's verdict on each drifted feature.
    drifted = shifted["retrain_request"]["evidence"]["drifted"]
    assert "tenure" in drifted and drifted["tenure"]["drifted"] and drifted["tenure"]["reason"]
    if first["accuracy_status"] == "failing":  # recorded, not acted on: the policy does not trigger on it
        assert first["retrain_request"]["status"] == "suppressed"
        assert "not in the policy's trigger_reasons" in first["retrain_request"]["message"]
    assert [e["deployment_id"] for e in asset_events("mlops://retrain-requests", since=started)] == [dep]
    history = Deployment.get(dep).get_health_history()
    assert [h["kind"] for h in history[:4]] == ["fairness", "accuracy", "drift", "service"]
    assert len(history) == 12  # three runs, four verdicts each (fairness: unknown, nothing protected)
    assert {h["status"] for h in history if h["kind"] == "fairness"} == {"unknown"}
    over = d.get_service_stats_over_time(
        "totalPredictions", "PT1H", start_time=H0, end_time=H0 + timedelta(hours=12)
    )
    assert list(over.bucket_values.values()) == [150] * 12


def _serve(dep: str, hours: range, *, server_errors: float, latency_ms: float, seed: int) -> None:
    """Traffic without drift: ``server_errors`` of the requests answered 500, all at ``latency_ms``."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "timestamp": H0 + timedelta(hours=h, seconds=int(rng.integers(0, 3600))),
            "model_version": "1",
            "prediction": float(rng.beta(2, 5)),
            "status_code": 500 if rng.random() < server_errors else 200,
            "latency_ms": latency_ms,
            "features": {"tenure": float(rng.normal(40, 10)), "plan": str(rng.choice(["a", "b"]))},
        }
        for h in hours
        for _ in range(100)
    ]
    with PredictionLogWriter(get_settings().prediction_log_dir) as writer:
        writer.append(dep, rows)


def test_server_errors_request_an_errors_retrain_once_per_cool_down(home: Path) -> None:
    from airflow_mlops.dag_runs import asset_events, run_dag, xcom_result
    from airflow_mlops.retraining import list_requests

    dep = _deploy()
    started = datetime.now(UTC)
    _serve(dep, range(0, 2), server_errors=0.2, latency_ms=20.0, seed=3)

    def monitor(hour: int) -> dict:
        conf = {"window_end": (H0 + timedelta(hours=hour)).isoformat(), "window_hours": 2, "report": False}
        return xcom_result(run_dag("mlops_monitor", conf), "monitor")[0]

    first = monitor(2)
    assert first["service_status"] == "failing" and "server errors" in first["service_message"]
    assert set(first["service_failures"]) == {"ERRORS"}
    request = first["retrain_request"]
    assert (request["reason"], request["status"], request["origin"]) == ("ERRORS", "requested", "monitor")
    assert request["evidence"]["service_stats"]["serverErrorRate"] > 0.05
    events = asset_events("mlops://retrain-requests", since=started)
    assert [(e["request_id"], e["reason"]) for e in events] == [(request["id"], "ERRORS")]

    # Still failing an hour later: recorded as suppressed by the cool-down, no second event.
    _serve(dep, range(2, 3), server_errors=0.2, latency_ms=20.0, seed=4)
    second = monitor(3)
    assert second["service_status"] == "failing"
    assert second["retrain_request"]["status"] == "suppressed"
    assert "cool-down" in second["retrain_request"]["message"]
    assert len(asset_events("mlops://retrain-requests", since=started)) == 1
    assert [r.status for r in list_requests(dep)] == ["suppressed", "requested"]


def _set_service_health(dep: str, **thresholds: float) -> None:
    """Health settings straight in the store: this deployment's model is not in a registry to check against."""
    from airflow_mlops.deployments.settings import with_defaults

    with session_scope(get_settings().store_url) as session:
        row = session.get(DeploymentRow, dep)
        assert row is not None
        settings = with_defaults(row.settings)
        settings["health"]["service"].update(thresholds)
        row.settings = settings


def test_slow_answers_request_scoring_speed_from_the_deployments_thresholds(home: Path) -> None:
    from airflow_mlops.dag_runs import run_dag, xcom_result

    dep = _deploy()
    _serve(dep, range(0, 2), server_errors=0.0, latency_ms=300.0, seed=5)
    conf = {"window_end": (H0 + timedelta(hours=2)).isoformat(), "window_hours": 2, "report": False}
    # 300 ms is not slow by the defaults (slow means > 1000 ms) ...
    calm = xcom_result(run_dag("mlops_monitor", conf), "monitor")[0]
    assert calm["service_status"] == "passing" and "retrain_request" not in calm
    # ... but it is for a deployment whose owner says a median above 250 ms fails.
    _set_service_health(dep, response_time_failing_ms=250)
    slow = xcom_result(run_dag("mlops_monitor", conf), "monitor")[0]
    assert slow["service_status"] == "failing"
    assert re.search(r"median response time (299|300) ms >= 250 ms", slow["service_message"])
    assert slow["retrain_request"]["reason"] == "SCORING_SPEED"
    assert slow["retrain_request"]["status"] == "requested"


def test_mlops_refresh_requests_due_refreshes_and_dispatches_waiting_requests(home: Path) -> None:
    from airflow_mlops.dag_runs import asset_events, run_dag, xcom_result
    from airflow_mlops.retraining import list_requests

    dep = _deploy()
    d = Deployment.get(dep)
    d.update_retraining_settings(refresh_schedule="0 3 * * *")
    person = d.request_retraining(note="new price list from marketing", actor="alice")
    started = datetime.now(UTC)

    def refresh(start: datetime, end: datetime) -> dict:
        conf = {"interval_start": start.isoformat(), "interval_end": end.isoformat()}
        return xcom_result(run_dag("mlops_refresh", conf), "dispatch")[0]

    quiet = refresh(H0, H0 + timedelta(hours=1))  # 00:00-01:00: the 03:00 schedule has not fired
    assert quiet["refreshes"] == [] and quiet["emitted"] == [person.id]
    due = refresh(H0 + timedelta(hours=2), H0 + timedelta(hours=3))
    (scheduled,) = due["refreshes"]
    assert scheduled["status"] == "requested" and due["emitted"] == [scheduled["request_id"]]
    again = refresh(H0 + timedelta(hours=2), H0 + timedelta(hours=3))  # a re-run emits nothing twice
    assert [r["status"] for r in again["refreshes"]] == ["suppressed"] and again["emitted"] == []

    events = asset_events("mlops://retrain-requests", since=started)
    assert [(e["reason"], e["request_id"]) for e in events] == [
        ("OTHER", person.id),
        ("SCHEDULED_REFRESH", scheduled["request_id"]),
    ]
    assert events[0]["evidence"] == {"note": "new price list from marketing"}
    assert {r.origin for r in list_requests(dep)} == {"user", "schedule"}
