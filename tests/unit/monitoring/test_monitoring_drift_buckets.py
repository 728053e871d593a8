"""Packed hourly drift rows and their daily rollups: what the fold writes is what any window sums to.

Each test runs on SQLite (the default store) and on PostgreSQL (a database of its
own on the local server, skipped only when no server runs there).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers.scratch_postgres import scratch_database
from numpy.typing import NDArray
from sqlalchemy import select

from airflow_mlops.monitoring import Baseline, build_baseline, drift_score
from airflow_mlops.monitoring.drift_buckets import cover
from airflow_mlops.monitoring.fold import fold_new_predictions
from airflow_mlops.monitoring.reads import get_drift_over_time, get_feature_histogram, list_feature_drift
from airflow_mlops.monitoring.reads.drift import load_baseline, window_counts
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
from airflow_mlops.prediction_log import PredictionLogWriter
from airflow_mlops.store import (
    BaselineRow,
    DriftDayRow,
    DriftHourRow,
    dispose_engines,
    migrate,
    session_scope,
)
from airflow_mlops.store.drift_counts import unpack

DEP = "dep1"
TARGET = "churned"
#: Traffic from 20:00 on 1 March to 04:00 on 4 March: two whole days and two partial ones.
FIRST = datetime(2024, 3, 1, 20, tzinfo=UTC)
HOURS = [FIRST + timedelta(hours=k) for k in range(57)]
DAY2 = datetime(2024, 3, 2, tzinfo=UTC)
PLUS_2 = timezone(timedelta(hours=2))

Row = dict[str, Any]


# --- stores ----------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty MLOps store of either kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        migrate(url)
        yield url
        dispose_engines()
    else:
        with scratch_database("mlops_drift") as url:
            migrate(url)
            yield url


@pytest.fixture
def baseline(store_url: str) -> Baseline:
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
        store_url, DEP, fixed, baseline_versions=("1", "2"), registered_model_name="churn", target_name=TARGET
    )
    return fixed


# --- traffic ---------------------------------------------------------------------------------------


def _traffic(n: int, hour: datetime, *, seed: int, version: str = "1", shift: float = 0.0) -> list[Row]:
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 3600, n)
    tenure = rng.normal(40.0 + shift, 10.0, n).round(2)
    plan = rng.choice(["basic", "pro", "enterprise", "trial"], n, p=[0.5, 0.3, 0.15, 0.05])
    prediction = rng.beta(2.0, 5.0, n)
    return [
        {
            "timestamp": hour + timedelta(seconds=int(seconds[i])),
            "model_version": version,
            "prediction": float(prediction[i]),
            "status_code": 200,
            "latency_ms": 3.0,
            "features": {"tenure": float(tenure[i]), "plan": str(plan[i])},
        }
        for i in range(n)
    ]


def _fold(store_url: str, log: Path, rows: list[Row]) -> None:
    with PredictionLogWriter(log, max_rows=1_000_000, max_delay_s=60.0) as writer:
        writer.append(DEP, rows)
    fold_new_predictions(DEP, store_url=store_url, log_root=log)


def _direct(baseline: Baseline, rows: list[Row]) -> dict[str, list[int]]:
    """What a window should hold: one ``Baseline.count`` over all its rows at once."""
    features = pd.DataFrame([r["features"] for r in rows])
    counts = baseline.count(features, prediction=np.array([r["prediction"] for r in rows]))
    return _lists(counts)


def _lists(counts: dict[str, NDArray[np.int64]]) -> dict[str, list[int]]:
    return {name: [int(c) for c in vector] for name, vector in counts.items()}


def _within(rows: list[Row], start: datetime, end: datetime, version: str = "1") -> list[Row]:
    return [r for r in rows if start <= r["timestamp"] < end and r["model_version"] == version]


def _three_days(seed: int = 0) -> list[Row]:
    return [row for k, hour in enumerate(HOURS) for row in _traffic(5 + k % 7, hour, seed=seed + k)]


# --- the cover of a window -------------------------------------------------------------------------


def _hours_of(ranges: list[tuple[datetime, datetime]]) -> list[datetime]:
    out = []
    for lo, hi in ranges:
        moment = lo
        while moment < hi:
            out.append(moment)
            moment += timedelta(hours=1)
    return out


@pytest.mark.parametrize(
    ("start", "end", "cuts", "days"),
    [
        (FIRST, FIRST + timedelta(hours=57), [], [(DAY2, DAY2 + timedelta(days=2))]),
        (DAY2, DAY2 + timedelta(days=2), [], [(DAY2, DAY2 + timedelta(days=2))]),
        (DAY2 + timedelta(hours=1), DAY2 + timedelta(hours=30), [], []),
        (FIRST, FIRST + timedelta(hours=3), [], []),
        # A bucket boundary at 06:00 on day 2 cuts day 2: only day 3 is read whole.
        (
            FIRST,
            FIRST + timedelta(hours=57),
            [DAY2 + timedelta(hours=6)],
            [(DAY2 + timedelta(days=1), DAY2 + timedelta(days=2))],
        ),
        # Given in +02:00: the whole UTC day inside is still read from the rollup.
        (
            datetime(2024, 3, 2, tzinfo=PLUS_2),
            datetime(2024, 3, 4, tzinfo=PLUS_2),
            [],
            [(DAY2, DAY2 + timedelta(days=1))],
        ),
        # Boundaries at midnight cut nothing.
        (
            FIRST,
            FIRST + timedelta(hours=57),
            [DAY2, DAY2 + timedelta(days=1)],
            [(DAY2, DAY2 + timedelta(days=2))],
        ),
    ],
)
def test_cover_reads_every_hour_once_and_whole_uncut_days_from_the_rollup(
    start: datetime, end: datetime, cuts: list[datetime], days: list[tuple[datetime, datetime]]
) -> None:
    got_days, got_hours = cover(start, end, cuts)
    assert got_days == days
    every = sorted(_hours_of(got_days) + _hours_of(got_hours))
    assert every == _hours_of([(start, end)])  # each hour of the window exactly once
    assert all(lo.hour == 0 and hi.hour == 0 for lo, hi in got_days)


# --- fold, then windows ----------------------------------------------------------------------------


def test_window_counts_equal_the_rows_written_for_windows_across_days(
    store_url: str, baseline: Baseline, tmp_path: Path
) -> None:
    rows = _three_days()
    other = _traffic(40, DAY2 + timedelta(hours=3), seed=99, version="2", shift=30.0)
    _fold(store_url, tmp_path / "log", rows + other)

    windows = [
        (FIRST, FIRST + timedelta(hours=57)),  # partial, whole, whole, partial
        (DAY2, DAY2 + timedelta(days=1)),  # exactly one day: its rollup alone
        (DAY2 - timedelta(hours=1), DAY2 + timedelta(days=1, hours=1)),  # one edge hour each side
        (DAY2 + timedelta(hours=5), DAY2 + timedelta(hours=29)),  # 24 hours, no whole day
        (FIRST - timedelta(days=3), FIRST + timedelta(days=30)),  # beyond the data both ways
        # Given in another zone: days are still UTC days (midnight here is 22:00 UTC).
        (DAY2.astimezone(PLUS_2) - timedelta(hours=2), DAY2.astimezone(PLUS_2) + timedelta(days=1, hours=5)),
        (datetime(2024, 3, 2, tzinfo=PLUS_2), datetime(2024, 3, 4, tzinfo=PLUS_2)),
    ]
    for start, end in windows:
        expected = _direct(baseline, _within(rows, start, end))
        assert _lists(window_counts(store_url, DEP, "1", start, end)) == expected, (start, end)
    # A subset of features, and a window with no rows.
    sub = window_counts(store_url, DEP, "1", FIRST, FIRST + timedelta(hours=57), ["plan"])
    assert _lists(sub) == {"plan": _direct(baseline, rows)["plan"]}
    assert window_counts(store_url, DEP, "1", FIRST - timedelta(days=2), FIRST) == {}
    # Model version 2 is kept apart (its only hour is inside a whole day read from the rollup).
    assert _lists(window_counts(store_url, DEP, "2", FIRST, FIRST + timedelta(days=3))) == _direct(
        baseline, other
    )
    assert window_counts(store_url, "someone-else", "1", FIRST, FIRST + timedelta(days=3)) == {}


def test_late_data_into_an_old_hour_updates_the_hour_and_the_day(
    store_url: str, baseline: Baseline, tmp_path: Path
) -> None:
    rows = _three_days()
    _fold(store_url, tmp_path / "log", rows)
    day = (DAY2, DAY2 + timedelta(days=1))
    before = _lists(window_counts(store_url, DEP, "1", *day))

    # A server's file for 07:00 on day 2 arrives after day 4 was folded.
    late = _traffic(500, DAY2 + timedelta(hours=7), seed=1234, shift=25.0)
    _fold(store_url, tmp_path / "log", late)

    after = _lists(window_counts(store_url, DEP, "1", *day))
    assert after != before
    assert after == _direct(baseline, _within(rows + late, *day))
    hour = (DAY2 + timedelta(hours=7), DAY2 + timedelta(hours=8))
    assert _lists(window_counts(store_url, DEP, "1", *hour)) == _direct(baseline, _within(rows + late, *hour))
    with session_scope(store_url) as session:
        day_rows = session.scalars(select(DriftDayRow).where(DriftDayRow.day == DAY2)).all()
        hour_rows = session.scalars(
            select(DriftHourRow).where(DriftHourRow.hour >= day[0], DriftHourRow.hour < day[1])
        ).all()
        assert len(day_rows) == 1
        rolled = unpack(day_rows[0].layout, day_rows[0].width, day_rows[0].counts)
        summed: dict[str, NDArray[np.int64]] = {}
        for r in hour_rows:
            for name, vector in unpack(r.layout, r.width, r.counts).items():
                summed[name] = summed[name] + vector if name in summed else vector
        assert _lists(rolled) == _lists(summed)
    # Folding again adds nothing: the late file is marked folded with its counts.
    fold_new_predictions(DEP, store_url=store_url, log_root=tmp_path / "log")
    assert _lists(window_counts(store_url, DEP, "1", *day)) == after


def test_reads_over_time_and_the_histogram_use_the_same_counts(
    store_url: str, baseline: Baseline, tmp_path: Path
) -> None:
    rows = _three_days()
    _fold(store_url, tmp_path / "log", rows)
    # Daily buckets starting at 06:00 cut every day: read hour by hour, each hour in its bucket.
    start, end = DAY2 + timedelta(hours=6), DAY2 + timedelta(days=2, hours=6)
    for size, step in (("P1D", timedelta(days=1)), ("PT1H", timedelta(hours=1))):
        over = get_drift_over_time(
            DEP,
            store_url=store_url,
            version="1",
            feature="tenure",
            bucket_size=size,
            start_time=start,
            end_time=end,
        )
        lo = start
        for bucket in over.buckets:
            inside = _within(rows, lo, lo + step)
            assert bucket["sampleSize"] == len(inside)
            if inside:
                expected = drift_score(
                    "psi",
                    baseline.baseline_counts["tenure"],
                    np.array(_direct(baseline, inside)["tenure"]),
                    bins=baseline.bins("tenure"),
                )
                assert bucket["value"] == pytest.approx(expected, rel=1e-12)
            else:
                assert bucket["value"] is None
            lo += step
    # Midnight-aligned daily buckets are read from the rollup: the same numbers.
    aligned = get_drift_over_time(
        DEP,
        store_url=store_url,
        version="1",
        feature=TARGET,
        start_time=DAY2,
        end_time=DAY2 + timedelta(days=2),
    )
    assert [b["sampleSize"] for b in aligned.buckets] == [
        len(_within(rows, DAY2 + timedelta(days=k), DAY2 + timedelta(days=k + 1))) for k in range(2)
    ]
    histogram = get_feature_histogram(
        DEP,
        store_url=store_url,
        version="1",
        feature="plan",
        start_time=FIRST,
        end_time=FIRST + timedelta(hours=57),
    )
    assert [b["windowCount"] for b in histogram.bins] == _direct(baseline, rows)["plan"]
    drift = {
        f.name: f
        for f in list_feature_drift(
            DEP, store_url=store_url, version="1", start_time=FIRST, end_time=FIRST + timedelta(hours=57)
        )
    }
    assert drift["tenure"].sample_size == len(rows)


def test_a_baseline_re_fixed_for_the_same_version_is_read_again(store_url: str, baseline: Baseline) -> None:
    """Parsed baselines are cached per stored version; a replacement's new ``created_at`` invalidates."""
    first = load_baseline(store_url, DEP, "1")
    assert first is not None and first.to_dict() == baseline.to_dict()
    assert load_baseline(store_url, DEP, "1") is first  # parsed once
    assert load_baseline(store_url, DEP, "9") is None
    other = build_baseline(
        pd.DataFrame({"tenure": np.arange(100.0), "plan": ["x"] * 100}),
        prediction=pd.Series(np.linspace(0, 1, 100)),
        prediction_name=TARGET,
    )
    with session_scope(store_url) as session:
        session.merge(
            BaselineRow(
                deployment_id=DEP,
                model_version="1",
                baseline=other.to_dict(),
                created_at=datetime.now(UTC) + timedelta(seconds=1),
            )
        )
    again = load_baseline(store_url, DEP, "1")
    assert again is not None and again is not first
    assert again.to_dict() == other.to_dict()
