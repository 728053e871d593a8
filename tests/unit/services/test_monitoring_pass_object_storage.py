"""The scale-out path end to end: the prediction server logs to S3, a monitoring pass reads it back.

With ``MLOPS_PREDICTION_LOG_DIR=s3://<bucket>/predictions`` the server (on one
host) and the monitoring task (on another) share the log through the bucket.
Here both run in this process against a real S3 API (moto on loopback): the
real app under uvicorn answers HTTP predictions and flushes its log when it
stops, then :func:`monitor_deployment` folds the S3 files and judges the window,
and the drift report's current sample is read from the same files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest
from helpers.live_server import serve_app
from helpers.s3_server import list_keys
from upath import UPath

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.report import current_sample
from airflow_mlops.security import create_token
from airflow_mlops.services import monitor_deployment
from airflow_mlops.serving.app import create_app

if TYPE_CHECKING:
    from conftest import RegisteredModels

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_predictions_served_to_an_s3_log_are_folded_and_monitored(
    models: RegisteredModels,
    mlops_home: Path,
    s3_bucket: str,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_DIR", f"s3://{s3_bucket}/predictions")
    settings = get_settings()
    assert isinstance(settings.prediction_log_dir, UPath)
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "scaled out")
    frame = make_churn(90, seed=11, start=T0, hours=3).drop(columns=["customer_id", "churned"])

    _info, token = create_token(settings.store_url, user="tester", is_admin=True)
    with serve_app(create_app(settings)) as url:
        response = httpx.post(
            f"{url}/predApi/v1.0/deployments/{deployment.id}/predictions",
            params={"timestampColumn": "event_time"},
            content=str(frame.to_json(orient="records", date_format="iso")),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
    # Stopping the server flushed its log: to the bucket, one file per hour, nothing on local disk.
    hours = frame["event_time"].dt.floor("h")
    expected = {hour.to_pydatetime(): count for hour, count in hours.value_counts().items()}
    keys = list_keys(s3_endpoint, s3_bucket, f"predictions/deployment={deployment.id}/")
    inbox = [key for key in keys if key.split("/")[2] == "_inbox"]
    keys = [key for key in keys if key not in inbox]
    assert sorted({key.split("/")[2] for key in keys}) == sorted(f"hour={h:%Y%m%dT%H}" for h in expected)
    assert len(inbox) == len(keys)  # one marker per file, for the fold to find it
    assert not any((mlops_home / "predictions").rglob("*"))  # the default local root, made by mlops_home

    end = T0 + timedelta(hours=3)
    result = monitor_deployment(deployment.id, settings, window_end=end, window_hours=4)
    assert result.folded_rows == 90
    assert list_keys(s3_endpoint, s3_bucket, f"predictions/deployment={deployment.id}/_inbox/") == []
    assert result.predictions_per_hour == expected
    assert result.service_stats is not None and result.service_stats["totalPredictions"] == 90
    # A second pass finds nothing new: the S3 files are folded exactly once.
    assert monitor_deployment(deployment.id, settings, window_end=end, window_hours=4).folded_rows == 0

    sample = current_sample(
        settings.prediction_log_dir, deployment.id, result.window_start, result.window_end, models.features
    )
    sent = frame[models.features].sort_values("tenure_months", kind="stable").reset_index(drop=True)
    got = sample.sort_values("tenure_months", kind="stable").reset_index(drop=True)
    assert len(got) == 90
    pd.testing.assert_series_equal(got["tenure_months"], sent["tenure_months"], check_dtype=False)
