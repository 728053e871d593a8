"""The prediction log on object storage: an S3 server on loopback (moto), reached through s3fs.

``MLOPS_PREDICTION_LOG_DIR=s3://<bucket>/predictions`` makes every host write and
read the same log; these tests check the layout, the reads, the window
selection, that other writers' files are seen without a stale listing, and that
a failed flush keeps its rows, all against a real S3 API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest
from helpers.s3_server import TEST_CREDENTIALS, create_bucket, list_keys
from upath import UPath

from airflow_mlops.config import get_settings
from airflow_mlops.prediction_log import (
    PredictionBatch,
    PredictionLogWriter,
    feature_frame,
    list_log_files,
    read_log_files,
)

T0 = datetime(2024, 1, 1, 10, 15, tzinfo=UTC)


def _rows(
    n: int, *, start: datetime = T0, prefix: str = "a", step: timedelta = timedelta(minutes=1)
) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": start + i * step,
            "association_id": f"{prefix}-{i}",
            "model_version": "v1",
            "prediction": 0.25 * (i % 4),
            "status_code": 200,
            "latency_ms": 2.5,
            "features": {"tenure": i, "plan": "basic" if i % 2 else "pro"},
        }
        for i in range(n)
    ]


@pytest.fixture
def log_root(s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> UPath:
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_DIR", f"s3://{s3_bucket}/predictions")
    root = get_settings().prediction_log_dir
    assert isinstance(root, UPath) and root.protocol == "s3"
    return root


def test_rows_written_to_s3_read_back_by_deployment_and_hour_window(
    log_root: UPath, s3_bucket: str, s3_endpoint: str
) -> None:
    rows = _rows(150)  # 10:15 .. 12:44: three hours
    with PredictionLogWriter(log_root, max_rows=100_000, max_delay_s=60.0) as writer:
        writer.append("dep", rows)
        writer.append("other", _rows(5, prefix="o"))
        features = pd.DataFrame({"tenure": [1, 2, 3], "plan": ["x", "y", "z"]})
        writer.append_batch(
            "dep",
            PredictionBatch(
                size=3,
                timestamp=T0 + timedelta(hours=5),
                model_version="v2",
                status_code=200,
                latency_ms=1.0,
                prediction=[0.1, 0.2, 0.3],
                features=features,
            ),
        )

    # What is really on the server: the Hive layout, final names only (no temporary objects),
    # and one inbox marker per file, named after it (what the monitoring fold lists).
    all_keys = list_keys(s3_endpoint, s3_bucket)
    keys = [key for key in all_keys if "/_inbox/" not in key]
    markers = sorted(key.rsplit("/", 1)[1] for key in all_keys if "/_inbox/" in key)
    dep_hours = sorted({key.split("/")[2] for key in keys if key.startswith("predictions/deployment=dep/")})
    assert dep_hours == ["hour=20240101T10", "hour=20240101T11", "hour=20240101T12", "hour=20240101T15"]
    assert all(key.rsplit("/", 1)[1].startswith("part-") and key.endswith(".parquet") for key in keys)
    assert len(keys) == 5  # one file per deployment-hour of the single flush
    assert len(markers) == 5
    assert sorted(m.split("_", 2)[2].removesuffix(".new") for m in markers) == sorted(
        key.rsplit("/", 1)[1] for key in keys
    )

    files = list_log_files(log_root, "dep")
    assert len(files) == 4 and all(isinstance(f, UPath) for f in files)
    log = read_log_files(files)
    assert len(log) == 153
    assert set(log["deployment_id"]) == {"dep"}
    head = log[log["model_version"] == "v1"].reset_index(drop=True)
    assert list(head["association_id"]) == [row["association_id"] for row in rows]
    assert list(head["timestamp"]) == [row["timestamp"] for row in rows]
    assert list(head["prediction"]) == [row["prediction"] for row in rows]
    assert list(feature_frame(head)["tenure"]) == list(range(150))
    tail = log[log["model_version"] == "v2"]
    assert list(feature_frame(tail)["plan"]) == ["x", "y", "z"]

    # An hour window reads only its partitions.
    window = list_log_files(log_root, "dep", start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=1))
    assert [f.parent.name for f in window] == ["hour=20240101T11"]
    assert len(read_log_files(window)) == 60

    assert len(read_log_files(list_log_files(log_root, "other"))) == 5
    assert list_log_files(log_root, "nobody") == []


def test_files_other_hosts_write_are_listed_without_a_stale_cache(
    log_root: UPath, s3_bucket: str, s3_endpoint: str
) -> None:
    with PredictionLogWriter(log_root) as writer:
        writer.append("dep", _rows(3))
    (first,) = list_log_files(log_root, "dep")

    # Another host adds a file (through its own S3 client, not this process's s3fs).
    key = first.path.split("/", 1)[1]
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"])
    client.copy_object(
        Bucket=s3_bucket,
        Key=key.replace("part-", "part-99999999T999999999999Z-", 1),
        CopySource={"Bucket": s3_bucket, "Key": key},
    )

    assert len(list_log_files(log_root, "dep")) == 2
    assert len(read_log_files(list_log_files(log_root, "dep"))) == 6


def test_a_failed_flush_keeps_the_rows_until_the_bucket_exists(s3_endpoint: str, s3_bucket: str) -> None:
    missing = f"{s3_bucket}-later"
    root = UPath(f"s3://{missing}/predictions", use_listings_cache=False)
    writer = PredictionLogWriter(root, max_rows=100_000, max_delay_s=60.0)
    try:
        writer.append("dep", _rows(4))
        with pytest.raises(FileNotFoundError):
            writer.flush()
        assert writer.pending == 4
        # The write did not create the bucket (a mistyped name must fail, not make a new bucket).
        client = boto3.client(
            "s3", endpoint_url=s3_endpoint, region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"]
        )
        with pytest.raises(client.exceptions.ClientError):
            client.head_bucket(Bucket=missing)

        create_bucket(s3_endpoint, missing)
        assert writer.flush() == 4
        assert writer.pending == 0
    finally:
        writer.close()
    assert len(read_log_files(list_log_files(root, "dep"))) == 4
