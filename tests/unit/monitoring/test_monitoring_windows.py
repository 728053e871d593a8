"""Window queries over folded buckets: [start, end) sums, per-hour totals, drift, and their cost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from sqlalchemy import func, select

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.monitoring import Baseline, build_baseline, drift_buckets, drift_score
from airflow_mlops.monitoring.fold import fold_new_predictions
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
from airflow_mlops.monitoring.windows import drift_scores, predictions_per_hour, window_counts
from airflow_mlops.prediction_log import PredictionLogWriter
from airflow_mlops.store import DriftHourRow, session_scope

DEP = "dep1"
TARGET = "churned"
H9 = datetime(2024, 3, 1, 9, tzinfo=UTC)
H10, H11, H12, H13 = (H9 + timedelta(hours=k) for k in range(1, 5))
PLUS_2 = timezone(timedelta(hours=2))

Row = dict[str, Any]


@pytest.fixture
def settings(mlops_home: Path) -> Settings:
    return get_settings()


@pytest.fixture
def baseline(settings: Settings) -> Baseline:
    """A deployment with baselines for model versions 1 and 2, inserted straight into the store."""
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(40.0, 10.0, n).round(2),
            "plan": rng.choice(["basic", "pro", "enterprise"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    fixed = build_baseline(frame, prediction=pd.Series(rng.beta(2.0, 5.0, n)), prediction_name=TARGET)
    insert_deployment_with_baseline(
        settings.store_url,
        DEP,
        fixed,
        baseline_versions=("1", "2"),
        label="churn",
        registered_model_name="churn",
        target_name=TARGET,
    )
    return fixed


def _traffic(
    n: int, hour: datetime, *, seed: int, version: str = "1", status: int = 200, shift: float = 0.0
) -> list[Row]:
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 3600, n)
    tenure = rng.normal(40.0 + shift, 10.0, n).round(2)
    plan = rng.choice(["basic", "pro", "enterprise"], n, p=[0.5, 0.3, 0.2])
    prediction = rng.beta(2.0, 5.0, n)
    return [
        {
            "timestamp": hour + timedelta(seconds=int(seconds[i])),
            "association_id": f"{seed}-{i}",
            "model_version": version,
            "prediction": float(prediction[i]),
            "status_code": status,
            "latency_ms": 3.0,
            "features": {"tenure": float(tenure[i]), "plan": str(plan[i])},
        }
        for i in range(n)
    ]


def _write_and_fold(settings: Settings, rows: list[Row]) -> None:
    with PredictionLogWriter(settings.prediction_log_dir, max_rows=1_000_000, max_delay_s=60.0) as writer:
        writer.append(DEP, rows)
    fold_new_predictions(DEP, store_url=settings.store_url, log_root=settings.prediction_log_dir)


def _direct(baseline: Baseline, rows: list[Row]) -> dict[str, NDArray[np.int64]]:
    """What the window should hold: one ``Baseline.count`` over all its rows at once."""
    features = pd.DataFrame([r["features"] for r in rows])
    return baseline.count(features, prediction=np.array([r["prediction"] for r in rows]))


def _as_lists(counts: dict[str, NDArray[np.int64]]) -> dict[str, list[int]]:
    return {name: [int(c) for c in vector] for name, vector in counts.items()}


def test_window_counts_sum_the_buckets_of_start_inclusive_end_exclusive(
    settings: Settings, baseline: Baseline
) -> None:
    by_hour = {
        hour: _traffic(n, hour, seed=seed)
        for seed, (hour, n) in enumerate([(H9, 70), (H10, 100), (H11, 130), (H12, 160)])
    }
    other_version = _traffic(90, H10, seed=10, version="2", shift=30.0)
    _write_and_fold(settings, [row for rows in by_hour.values() for row in rows] + other_version)
    url = settings.store_url

    got = window_counts(url, DEP, "1", H10, H12)

    assert _as_lists(got) == _as_lists(_direct(baseline, by_hour[H10] + by_hour[H11]))
    assert set(got) == {"tenure", "plan", TARGET}
    # The same instants written in another zone select the same buckets.
    assert _as_lists(window_counts(url, DEP, "1", H10.astimezone(PLUS_2), H12.astimezone(PLUS_2))) == (
        _as_lists(got)
    )
    # A bucket is in the window when its hour is: 10:30 leaves out the 10:00 bucket.
    assert _as_lists(window_counts(url, DEP, "1", H10 + timedelta(minutes=30), H12)) == _as_lists(
        _direct(baseline, by_hour[H11])
    )
    assert _as_lists(window_counts(url, DEP, "1", H9, H13)) == _as_lists(
        _direct(baseline, [row for rows in by_hour.values() for row in rows])
    )
    assert _as_lists(window_counts(url, DEP, "2", H9, H13)) == _as_lists(_direct(baseline, other_version))
    assert window_counts(url, DEP, "1", H10, H10) == {}
    assert window_counts(url, DEP, "1", H13, H13 + timedelta(hours=5)) == {}
    assert window_counts(url, "someone-else", "1", H9, H13) == {}


def test_predictions_per_hour_is_ordered_and_totals_every_version(
    settings: Settings, baseline: Baseline
) -> None:
    # Written (and folded) out of time order, across versions, with errors that must not count.
    _write_and_fold(settings, _traffic(40, H12, seed=1) + _traffic(25, H12, seed=2, version="2"))
    _write_and_fold(settings, _traffic(30, H10, seed=3) + _traffic(7, H10, seed=4, status=503))
    _write_and_fold(settings, _traffic(20, H9, seed=5) + _traffic(11, H13, seed=6, version="3"))
    _write_and_fold(settings, _traffic(5, H11, seed=7, status=500))

    per_hour = predictions_per_hour(settings.store_url, DEP, H10, H13)

    assert list(per_hour.items()) == [(H10, 30), (H11, 0), (H12, 65)]
    assert all(hour.tzinfo is not None and hour.utcoffset() == timedelta(0) for hour in per_hour)
    assert sum(predictions_per_hour(settings.store_url, DEP, H9, H13 + timedelta(hours=1)).values()) == (
        20 + 30 + 65 + 11
    )
    assert predictions_per_hour(settings.store_url, DEP, H10, H10) == {}


def test_drift_scores_equal_drift_score_on_the_summed_vectors(settings: Settings, baseline: Baseline) -> None:
    rows = _traffic(150, H10, seed=1) + _traffic(150, H11, seed=2, shift=15.0) + _traffic(90, H12, seed=3)
    _write_and_fold(settings, rows)
    window = _traffic(150, H10, seed=1) + _traffic(150, H11, seed=2, shift=15.0)
    summed = _direct(baseline, window)

    for metric in ("psi", "hellinger"):
        scores, sizes = drift_scores(settings.store_url, DEP, "1", baseline, H10, H12, metric=metric)
        expected = {
            name: drift_score(metric, baseline.baseline_counts[name], vector, baseline.bins(name))
            for name, vector in summed.items()
        }
        assert scores == pytest.approx(expected, rel=1e-12)
        assert sizes == {"tenure": 300, "plan": 300, TARGET: 300}
    psi, _ = drift_scores(settings.store_url, DEP, "1", baseline, H10, H12)
    assert psi["tenure"] > 0.15 > psi["plan"]  # the shifted feature stands out, as the hand count says
    assert drift_scores(settings.store_url, DEP, "1", baseline, H13, H13 + timedelta(hours=1)) == ({}, {})


@contextmanager
def _rows_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Bucket rows each drift window read fetched from the store while the block is open."""
    counts: list[int] = []
    real = drift_buckets._rows

    def counting(*args: Any, **kwargs: Any) -> list[Any]:
        rows = real(*args, **kwargs)
        counts.append(len(rows))
        return rows

    monkeypatch.setattr(drift_buckets, "_rows", counting)
    try:
        yield counts
    finally:
        monkeypatch.setattr(drift_buckets, "_rows", real)


def _bucket_rows_in_window(url: str, start: datetime, end: datetime) -> int:
    with session_scope(url) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(DriftHourRow)
                .where(
                    DriftHourRow.deployment_id == DEP,
                    DriftHourRow.hour >= start,
                    DriftHourRow.hour < end,
                )
            )
            or 0
        )


def test_window_cost_does_not_grow_with_the_number_of_predictions(
    settings: Settings, baseline: Baseline, monkeypatch: pytest.MonkeyPatch
) -> None:
    hours = (H10, H11, H12)
    _write_and_fold(settings, [row for k, hour in enumerate(hours) for row in _traffic(30, hour, seed=k)])
    with _rows_read(monkeypatch) as read_before:
        before = window_counts(settings.store_url, DEP, "1", H10, H13)
    rows_before = _bucket_rows_in_window(settings.store_url, H10, H13)

    more = [row for k, hour in enumerate(hours) for row in _traffic(300, hour, seed=10 + k)]
    _write_and_fold(settings, more)
    with _rows_read(monkeypatch) as read_after:
        after = window_counts(settings.store_url, DEP, "1", H10, H13)

    # One packed row per hour holds every feature (and the target); the window lies within one day.
    assert rows_before == _bucket_rows_in_window(settings.store_url, H10, H13) == len(hours)
    assert read_before == read_after == [len(hours)]
    assert {name: int(v.sum()) for name, v in before.items()} == {"tenure": 90, "plan": 90, TARGET: 90}
    assert {name: int(v.sum()) for name, v in after.items()} == {"tenure": 990, "plan": 990, TARGET: 990}
