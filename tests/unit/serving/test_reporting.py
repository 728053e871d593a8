"""External models end to end: registered with a schema only, deployed, their predictions
reported from elsewhere, and monitored like served ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serving_helpers import serve

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.model_baseline import build_model_baseline
from airflow_mlops.prediction_log import list_log_files, read_log_files
from airflow_mlops.registry import register_external_model
from airflow_mlops.services import monitor_deployment
from airflow_mlops.serving import report_predictions

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FEATURES = {
    "tenure_months": "numeric",
    "monthly_charges": "numeric",
    "support_calls": "numeric",
    "contract": "categorical",
    "internet_service": "categorical",
}


@pytest.fixture
def external(mlops_home: Path) -> Deployment:
    settings = get_settings()
    version = register_external_model(
        name="churn_external",
        target="churned",
        task="binary",
        features=FEATURES,
        classes=[0, 1],
        tracking_uri=settings.mlflow_tracking_uri,
    )
    model_id = f"{version.name}/{version.version}"
    train = make_churn(1500, seed=1, start=T0 - timedelta(days=1))
    baseline = build_model_baseline(model_id, train).to_dict()
    return Deployment.create_from_registered_model_version(model_id, "external churn", baseline=baseline)


def _reported(period: str, seed: int) -> object:
    frame = make_churn(600, seed=seed, period=period, start=T0, hours=6)  # type: ignore[arg-type]
    frame["score"] = (frame["tenure_months"] < 12).astype(float) * 0.6 + 0.2
    return frame


def test_external_deployment_cannot_be_asked_for_predictions(external: Deployment) -> None:
    """The prediction route answers 422 naming report_predictions, and logs nothing."""
    frame = make_churn(3, seed=5)
    with serve(external) as live:
        response = live.predict(str(frame.to_json(orient="records", date_format="iso")))
    assert response.status_code == 422, response.text
    assert "report_predictions" in response.json()["detail"]
    assert list_log_files(get_settings().prediction_log_dir, external.id) == []


def test_reported_predictions_are_logged_and_monitored(external: Deployment) -> None:
    settings = get_settings()
    stable = _reported("reference", 2)
    count = report_predictions(
        external.id,
        stable,
        prediction_column="score",
        timestamp_column="event_time",
        association_id_column="customer_id",
        caller="crm-exporter",
    )
    assert count == 600
    logged = read_log_files(list_log_files(settings.prediction_log_dir, external.id))
    assert len(logged) == 600
    assert set(logged["association_id"]) == set(stable["customer_id"])
    assert logged["model_version"].unique().tolist() == [external.model["version"]]
    # One report is one request, by the reporter; the model ran elsewhere, so no cache or execution time.
    (request_id,) = logged["request_id"].unique()
    assert str(request_id).startswith("report-") and set(logged["caller"]) == {"crm-exporter"}
    assert "cache_hit" not in logged.columns and "execution_ms" not in logged.columns

    result = monitor_deployment(external.id, settings, window_end=T0 + timedelta(hours=6), window_hours=6)
    assert result.folded_rows == 600
    assert sum(result.predictions_per_hour.values()) == 600
    assert result.service_stats is not None
    stats = result.service_stats
    # The report's rows spread over the window's hours: one request in each hour it touched.
    assert stats["totalRequests"] == len(logged["timestamp"].dt.floor("h").unique())
    assert (stats["numConsumers"], stats["cacheHitRatio"]) == (1, None), "no lookup: unknown, not 0"
    assert set(result.drift) == set(FEATURES)
    assert result.drift_status == "passing"

    report_predictions(
        external.id, _reported("shifted", 3), prediction_column="score", timestamp_column="event_time"
    )
    shifted = monitor_deployment(external.id, settings, window_end=T0 + timedelta(hours=6), window_hours=6)
    assert shifted.drift_status == "failing"
    assert "monthly_charges" in shifted.drift_message


def test_reported_rows_are_checked(external: Deployment) -> None:
    frame = _reported("reference", 2)
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['contract'\]"):
        report_predictions(external.id, frame.drop(columns=["contract"]), prediction_column="score")
    frame.loc[frame.index[4], "event_time"] = "yesterday"
    with pytest.raises(ValueError, match=r"row 4: column 'event_time' value 'yesterday' is not a timestamp"):
        report_predictions(external.id, frame, prediction_column="score", timestamp_column="event_time")
    frame = _reported("reference", 2).astype({"score": object})
    frame.loc[frame.index[7], "score"] = "high"
    with pytest.raises(ValueError, match=r"row 7: column 'score' value 'high' is not a number"):
        report_predictions(external.id, frame, prediction_column="score")
    assert list_log_files(get_settings().prediction_log_dir, external.id) == []
