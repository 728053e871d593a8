"""mlops_monitor through dag.test() over simulated hours: three verdicts per run, idempotent re-runs,
actuals joined, an Evidently report in MLflow, a retrain request when drift fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring import build_baseline
from airflow_mlops.serving.prediction_log import PredictionLogWriter
from airflow_mlops.store import BaselineRow, DeploymentRow, session_scope

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
    now = datetime.now(UTC)
    dep = "a" * 24
    with session_scope(settings.store_url) as session:
        session.add(
            DeploymentRow(
                id=dep,
                label="dag",
                registered_model_name="churn",
                model_version="1",
                target_name="churned",
                target_type="Binary",
                settings={},
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        session.add(
            BaselineRow(deployment_id=dep, model_version="1", baseline=baseline.to_dict(), created_at=now)
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
    assert [e["deployment_id"] for e in asset_events("mlops://retrain-requests", since=started)] == [dep]
    history = Deployment.get(dep).get_health_history()
    assert [h["kind"] for h in history[:3]] == ["accuracy", "drift", "service"]
    assert len(history) == 9  # three runs, three verdicts each
    over = d.get_service_stats_over_time(
        "totalPredictions", "PT1H", start_time=H0, end_time=H0 + timedelta(hours=12)
    )
    assert list(over.bucket_values.values()) == [150] * 12
