"""Folding the prediction log into hourly buckets: exact counts, exactly once, all or nothing per file."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.monitoring import Baseline, build_baseline
from airflow_mlops.monitoring.fold import FoldSummary, fold_new_predictions
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
from airflow_mlops.prediction_log import PredictionLogWriter
from airflow_mlops.store import (
    DriftDayRow,
    DriftHourRow,
    FoldedFileRow,
    ServiceBucketRow,
    session_scope,
)
from airflow_mlops.store.drift_counts import unpack

DEP = "dep1"
TARGET = "churned"
H10 = datetime(2024, 3, 1, 10, tzinfo=UTC)
H11 = H10 + timedelta(hours=1)
H12 = H10 + timedelta(hours=2)
IST = timezone(timedelta(hours=5, minutes=30))

Row = dict[str, Any]


# --- setup: store rows inserted directly, log files written by the real writer ----------------


def _training_baseline(seed: int = 0) -> Baseline:
    rng = np.random.default_rng(seed)
    n = 3000
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(40.0, 10.0, n).round(2),
            "plan": rng.choice(["basic", "pro", "enterprise"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    return build_baseline(frame, prediction=pd.Series(rng.beta(2.0, 5.0, n)), prediction_name=TARGET)


def _deploy(
    settings: Settings, deployment_id: str = DEP, *, baseline_versions: tuple[str, ...] = ("1",)
) -> Baseline:
    baseline = _training_baseline()
    insert_deployment_with_baseline(
        settings.store_url,
        deployment_id,
        baseline,
        baseline_versions=baseline_versions,
        label=f"churn {deployment_id}",
        registered_model_name="churn",
        target_name=TARGET,
    )
    return baseline


def _traffic(
    n: int, hour: datetime, *, seed: int, version: str = "1", status: int = 200, tz: timezone = UTC
) -> list[Row]:
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 3600, n)
    tenure = rng.normal(40.0, 10.0, n).round(2)
    plan = rng.choice(["basic", "pro", "enterprise", "trial"], n, p=[0.55, 0.3, 0.1, 0.05])
    prediction = rng.beta(2.0, 5.0, n)
    return [
        {
            "timestamp": (hour + timedelta(seconds=int(seconds[i]))).astimezone(tz),
            "association_id": f"{seed}-{i}",
            "model_version": version,
            "prediction": float(prediction[i]),
            "status_code": status,
            "latency_ms": round(float(1.0 + i % 7), 1),
            "features": {"tenure": float(tenure[i]), "plan": str(plan[i])},
        }
        for i in range(n)
    ]


def _write(root: Path, rows: list[Row], deployment_id: str = DEP) -> None:
    """One flush: one new file per UTC hour the rows fall in."""
    with PredictionLogWriter(root, max_rows=1_000_000, max_delay_s=60.0) as writer:
        writer.append(deployment_id, rows)


def _utc_hour(row: Row) -> datetime:
    ts: datetime = row["timestamp"]
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _expected_drift(
    baseline: Baseline, rows: list[Row], versions: tuple[str, ...] = ("1",)
) -> dict[tuple[str, datetime, str], list[int]]:
    """``Baseline.count`` straight over the rows we wrote, per model version (with a baseline) and UTC hour."""
    groups: dict[tuple[str, datetime], list[Row]] = defaultdict(list)
    for row in rows:
        if row["status_code"] < 400 and row["model_version"] in versions:
            groups[(row["model_version"], _utc_hour(row))].append(row)
    out: dict[tuple[str, datetime, str], list[int]] = {}
    for (version, hour), group in groups.items():
        features = pd.DataFrame([r["features"] for r in group])
        counts = baseline.count(features, prediction=np.array([r["prediction"] for r in group]))
        for name, vector in counts.items():
            out[(version, hour, name)] = [int(c) for c in vector]
    return out


def _expected_service(rows: list[Row]) -> dict[tuple[str, datetime], tuple[Any, ...]]:
    """(predictions, errors, latency sum) per model version and UTC hour; the sum compared approximately."""
    acc: dict[tuple[str, datetime], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for row in rows:
        entry = acc[(row["model_version"], _utc_hour(row))]
        if row["status_code"] >= 400:
            entry[1] += 1
        else:
            entry[0] += 1
        entry[2] += row["latency_ms"]
    return {key: (int(p), int(e), pytest.approx(lat)) for key, (p, e, lat) in acc.items()}


def _drift_rows(url: str, deployment_id: str = DEP) -> dict[tuple[str, datetime, str], list[int]]:
    """The hourly counts per (version, hour, feature); also checks each day row sums its hours."""
    with session_scope(url) as session:
        hours = session.scalars(select(DriftHourRow).where(DriftHourRow.deployment_id == deployment_id)).all()
        days = session.scalars(select(DriftDayRow).where(DriftDayRow.deployment_id == deployment_id)).all()
    out: dict[tuple[str, datetime, str], list[int]] = {}
    summed: dict[tuple[str, datetime, str], list[int]] = {}
    for r in hours:
        for feature, vector in unpack(r.layout, r.width, r.counts).items():
            out[(r.model_version, r.hour, feature)] = [int(c) for c in vector]
            key = (r.model_version, r.hour.replace(hour=0), feature)
            summed[key] = [
                a + int(b) for a, b in zip(summed.get(key, [0] * len(vector)), vector, strict=True)
            ]
    rolled = {
        (r.model_version, r.day, feature): [int(c) for c in vector]
        for r in days
        for feature, vector in unpack(r.layout, r.width, r.counts).items()
    }
    assert rolled == summed, "drift_days must hold the sum of each day's drift_hours"
    return out


def _service_rows(url: str, deployment_id: str = DEP) -> dict[tuple[str, datetime], tuple[int, int, float]]:
    with session_scope(url) as session:
        rows = session.scalars(
            select(ServiceBucketRow).where(ServiceBucketRow.deployment_id == deployment_id)
        )
        return {(r.model_version, r.hour): (r.predictions, r.errors, r.latency_ms_sum) for r in rows}


def _folded(url: str, deployment_id: str = DEP) -> dict[str, int]:
    with session_scope(url) as session:
        rows = session.scalars(select(FoldedFileRow).where(FoldedFileRow.deployment_id == deployment_id))
        return {r.path: r.rows for r in rows}


def _log_files(settings: Settings, deployment_id: str = DEP) -> list[str]:
    root = settings.prediction_log_dir
    return sorted(
        p.relative_to(root).as_posix() for p in root.glob(f"deployment={deployment_id}/*/*.parquet")
    )


def _file_rows(settings: Settings) -> list[int]:
    root = settings.prediction_log_dir
    return [pq.ParquetFile(root / path).metadata.num_rows for path in _log_files(settings)]


def _fold(settings: Settings, deployment_id: str = DEP) -> FoldSummary:
    return fold_new_predictions(
        deployment_id, store_url=settings.store_url, log_root=settings.prediction_log_dir
    )


@pytest.fixture
def settings(mlops_home: Path) -> Settings:
    return get_settings()


# --- tests ------------------------------------------------------------------------------------


def test_folded_counts_equal_a_direct_count_per_hour(settings: Settings) -> None:
    baseline = _deploy(settings)
    # Two hours, some rows stamped in another time zone (partitioned and bucketed by UTC hour),
    # and hour 10 split over two files.
    rows = (
        _traffic(300, H10, seed=1) + _traffic(200, H11, seed=2, tz=IST) + _traffic(250, H10, seed=3, tz=IST)
    )
    _write(settings.prediction_log_dir, rows[:300])
    _write(settings.prediction_log_dir, rows[300:])
    messages: list[str] = []

    summary = fold_new_predictions(
        DEP, store_url=settings.store_url, log_root=settings.prediction_log_dir, progress=messages.append
    )

    assert _drift_rows(settings.store_url) == _expected_drift(baseline, rows)
    assert set(_drift_rows(settings.store_url)) == {
        (version, hour, name)
        for version in ("1",)
        for hour in (H10, H11)
        for name in ("tenure", "plan", TARGET)
    }
    assert _service_rows(settings.store_url) == _expected_service(rows)
    service = _service_rows(settings.store_url)
    assert (service[("1", H10)][0], service[("1", H11)][0]) == (550, 200)
    assert summary.files == 3
    assert summary.rows == 750
    assert summary.hours == {H10, H11}
    assert summary.skipped_without_baseline == 0
    assert _folded(settings.store_url) == {
        path: n for path, n in zip(_log_files(settings), _file_rows(settings), strict=True)
    }
    assert messages[-1] == f"folded 3/3 log files (750 rows) for {DEP}"


def test_folding_twice_adds_nothing(settings: Settings) -> None:
    baseline = _deploy(settings)
    rows = _traffic(200, H10, seed=1) + _traffic(100, H11, seed=2)
    _write(settings.prediction_log_dir, rows)
    _fold(settings)
    drift, service, folded = (
        _drift_rows(settings.store_url),
        _service_rows(settings.store_url),
        _folded(settings.store_url),
    )

    again = _fold(settings)

    assert (again.files, again.rows, again.hours) == (0, 0, set())
    assert _drift_rows(settings.store_url) == drift == _expected_drift(baseline, rows)
    assert _service_rows(settings.store_url) == service
    assert _folded(settings.store_url) == folded


def test_files_arriving_later_are_folded_and_added(settings: Settings) -> None:
    baseline = _deploy(settings)
    first = _traffic(200, H10, seed=1)
    _write(settings.prediction_log_dir, first)
    _fold(settings)

    later = _traffic(150, H10, seed=2) + _traffic(120, H12, seed=3)
    _write(settings.prediction_log_dir, later)
    summary = _fold(settings)

    assert (summary.files, summary.rows, summary.hours) == (2, 270, {H10, H12})
    assert _drift_rows(settings.store_url) == _expected_drift(baseline, first + later)
    assert _service_rows(settings.store_url) == _expected_service(first + later)
    assert len(_folded(settings.store_url)) == 3


def test_rows_of_another_deployment_are_ignored(settings: Settings) -> None:
    baseline = _deploy(settings)
    _deploy(settings, "dep2")
    mine = _traffic(200, H10, seed=1)
    _write(settings.prediction_log_dir, mine)
    _write(settings.prediction_log_dir, _traffic(500, H10, seed=9) + _traffic(50, H11, seed=8), "dep2")

    summary = _fold(settings)

    assert (summary.files, summary.rows) == (1, 200)
    assert _drift_rows(settings.store_url) == _expected_drift(baseline, mine)
    assert _service_rows(settings.store_url) == _expected_service(mine)
    assert _drift_rows(settings.store_url, "dep2") == {}
    assert _service_rows(settings.store_url, "dep2") == {}
    assert _folded(settings.store_url, "dep2") == {}


def test_version_without_baseline_counts_in_service_buckets_only(settings: Settings) -> None:
    baseline = _deploy(settings, baseline_versions=("1",))
    v1 = _traffic(200, H10, seed=1, version="1")
    v2 = _traffic(80, H10, seed=2, version="2") + _traffic(20, H11, seed=3, version="2", status=500)
    _write(settings.prediction_log_dir, v1 + v2)

    summary = _fold(settings)

    assert summary.skipped_without_baseline == 100
    assert summary.rows == 300
    assert _service_rows(settings.store_url) == _expected_service(v1 + v2)
    assert _service_rows(settings.store_url)[("2", H10)][:2] == (80, 0)
    assert _service_rows(settings.store_url)[("2", H11)][:2] == (0, 20)
    drift = _drift_rows(settings.store_url)
    assert {version for version, _, _ in drift} == {"1"}
    assert drift == _expected_drift(baseline, v1)


def test_error_rows_count_as_errors_not_predictions_nor_drift(settings: Settings) -> None:
    baseline = _deploy(settings)
    ok = _traffic(200, H10, seed=1)
    # Errors carry features far outside training, so counting them would show in every bin vector.
    errors = [
        {**row, "status_code": status, "features": {"tenure": 1000.0, "plan": "weird"}, "prediction": 0.99}
        for row, status in zip(_traffic(30, H10, seed=2), [500, 422, 400] * 10, strict=True)
    ]
    _write(settings.prediction_log_dir, ok + errors)

    _fold(settings)

    predictions, n_errors, latency = _service_rows(settings.store_url)[("1", H10)]
    assert (predictions, n_errors) == (200, 30)
    assert latency == pytest.approx(sum(r["latency_ms"] for r in ok + errors))
    drift = _drift_rows(settings.store_url)
    assert drift == _expected_drift(baseline, ok)
    assert sum(drift[("1", H10, "tenure")]) == sum(drift[("1", H10, TARGET)]) == 200


def test_a_corrupt_file_stops_the_fold_after_the_good_files_before_it(settings: Settings) -> None:
    baseline = _deploy(settings)
    good = _traffic(200, H10, seed=1)
    after = _traffic(100, H12, seed=2)
    _write(settings.prediction_log_dir, good)
    _write(settings.prediction_log_dir, after)
    corrupt = (
        settings.prediction_log_dir / f"deployment={DEP}" / "hour=20240301T11" / "part-0-corrupt.parquet"
    )
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"PAR1 this is not a parquet file")

    with pytest.raises(pa.ArrowInvalid):
        _fold(settings)

    assert list(_folded(settings.store_url)) == [p for p in _log_files(settings) if "/hour=20240301T10/" in p]
    assert _drift_rows(settings.store_url) == _expected_drift(baseline, good)
    assert _service_rows(settings.store_url) == _expected_service(good)

    with pytest.raises(pa.ArrowInvalid):
        _fold(settings)  # still stuck on the same file; the good one is not counted again
    assert _drift_rows(settings.store_url) == _expected_drift(baseline, good)

    corrupt.unlink()
    summary = _fold(settings)
    assert (summary.files, summary.rows) == (1, 100)
    assert _drift_rows(settings.store_url) == _expected_drift(baseline, good + after)
    assert _service_rows(settings.store_url) == _expected_service(good + after)


def test_a_file_failing_half_way_leaves_no_partial_counts(settings: Settings) -> None:
    """Numeric in the baseline, strings in the log: the failure comes after other buckets changed."""
    baseline = _deploy(settings, baseline_versions=("1",))
    first = _traffic(200, H10, seed=1)
    _write(settings.prediction_log_dir, first)
    # One file, hour 10: version "0" (no baseline, folded first) then version "1" with string tenure.
    bad_v0 = _traffic(40, H10, seed=2, version="0")
    bad_v1 = [
        {**row, "features": {**row["features"], "tenure": str(row["features"]["tenure"])}}
        for row in _traffic(60, H10, seed=3)
    ]
    _write(settings.prediction_log_dir, bad_v0 + bad_v1)
    later = _traffic(50, H12, seed=4)
    _write(settings.prediction_log_dir, later)
    files = _log_files(settings)
    assert len(files) == 3

    with pytest.raises(ValueError, match="tenure"):
        _fold(settings)

    assert list(_folded(settings.store_url)) == [files[0]]
    assert _service_rows(settings.store_url) == _expected_service(first)
    assert _drift_rows(settings.store_url) == _expected_drift(baseline, first)

    # Repairing the file (replacing it with good rows) lets folding continue exactly once.
    (settings.prediction_log_dir / files[1]).unlink()
    fixed = bad_v0 + _traffic(60, H10, seed=3)
    _write(settings.prediction_log_dir, fixed)
    summary = _fold(settings)
    assert (summary.files, summary.rows) == (2, 150)
    assert _service_rows(settings.store_url) == _expected_service(first + fixed + later)
    assert _drift_rows(settings.store_url) == _expected_drift(baseline, first + fixed + later)
    assert len(_folded(settings.store_url)) == 3


def test_rows_logged_without_data_collection_count_for_service_only(settings: Settings) -> None:
    baseline = _deploy(settings)
    hour = datetime(2026, 1, 5, 10, tzinfo=UTC)
    collected = _traffic(40, hour, seed=3)
    uncollected = [
        {**row, "features": {}, "prediction": None, "data_collected": False}
        for row in _traffic(25, hour, seed=4)
    ]
    _write(settings.prediction_log_dir, [{**r, "data_collected": True} for r in collected] + uncollected)
    _fold(settings)
    assert _service_rows(settings.store_url)[("1", hour)][0] == 65
    frame = pd.DataFrame([r["features"] for r in collected])
    expected = baseline.count(frame, prediction=np.array([r["prediction"] for r in collected]))
    drift = _drift_rows(settings.store_url)
    for feature, vector in expected.items():
        assert drift[("1", hour, feature)] == [int(c) for c in vector], feature


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_a_file_spanning_hours_and_versions_is_bucketed_per_row(settings: Settings, unit: str) -> None:
    """Files not from our writer (a backfill, another tool): rows of several hours and versions, any unit."""
    baseline = _deploy(settings, baseline_versions=("1", "2"))
    rows = _traffic(120, H10, seed=1) + _traffic(80, H11, seed=2, version="2") + _traffic(50, H12, seed=3)
    order = np.random.default_rng(0).permutation(len(rows))
    rows = [rows[i] for i in order]  # hours and versions interleaved within the file
    table = pa.table(
        {
            "timestamp": pa.array([r["timestamp"] for r in rows], pa.timestamp("us", "UTC")).cast(
                pa.timestamp(unit, "UTC")
            ),
            "association_id": [r["association_id"] for r in rows],
            "model_version": [r["model_version"] for r in rows],
            "prediction": [r["prediction"] for r in rows],
            "status_code": pa.array([r["status_code"] for r in rows], pa.int64()),
            "latency_ms": [r["latency_ms"] for r in rows],
            "row_id": [f"r{i}" for i in range(len(rows))],
            "f.tenure": [r["features"]["tenure"] for r in rows],
            "f.plan": [r["features"]["plan"] for r in rows],
        }
    )
    path = settings.prediction_log_dir / f"deployment={DEP}" / "hour=20240301T10" / "part-0-backfill.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)

    summary = _fold(settings)

    assert summary.hours == {H10, H11, H12}
    assert _drift_rows(settings.store_url) == _expected_drift(baseline, rows, versions=("1", "2"))
    assert _service_rows(settings.store_url) == _expected_service(rows)
