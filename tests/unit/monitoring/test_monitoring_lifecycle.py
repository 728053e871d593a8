"""The prediction log's lifecycle: inbox-driven folds, compaction and retention lose and double no count.

Each scenario runs on a local log and on S3 (moto), since the inbox, compaction
and retention all list and delete objects there differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.monitoring import build_baseline
from airflow_mlops.monitoring import compaction as compaction_module
from airflow_mlops.monitoring import fold_plan as fold_plan_module
from airflow_mlops.monitoring.compaction import compact_prediction_log
from airflow_mlops.monitoring.fold import FoldSummary, fold_new_predictions
from airflow_mlops.monitoring.fold_plan import plan_fold
from airflow_mlops.monitoring.retention import apply_log_retention
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
from airflow_mlops.prediction_log import (
    PredictionLogWriter,
    announce_log_file,
    list_hour_files,
    list_inbox,
    list_log_files,
    read_log_files,
)
from airflow_mlops.storage import StoragePath
from airflow_mlops.store import DriftHourRow, FoldedFileRow, ServiceBucketRow, session_scope
from airflow_mlops.store.drift_counts import unpack

DEP = "dep1"
TARGET = "churned"
H10 = datetime(2024, 3, 1, 10, tzinfo=UTC)


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        monkeypatch.setenv("MLOPS_PREDICTION_LOG_DIR", f"s3://{bucket}/predictions")
    settings = get_settings()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"tenure": rng.normal(40, 10, 500), "plan": rng.choice(["a", "b"], 500)})
    baseline = build_baseline(frame, prediction=pd.Series(rng.beta(2, 5, 500)), prediction_name=TARGET)
    insert_deployment_with_baseline(settings.store_url, DEP, baseline, target_name=TARGET)
    return settings


_SEED = iter(range(1, 1_000_000))


def _rows(n: int, hour: datetime) -> list[dict[str, Any]]:
    rng = np.random.default_rng(next(_SEED))
    return [
        {
            "timestamp": hour + timedelta(seconds=int(s)),
            "model_version": "1",
            "prediction": float(p),
            "status_code": 200,
            "latency_ms": 1.0,
            "features": {"tenure": float(t), "plan": "a" if t > 40 else "b"},
        }
        for s, p, t in zip(rng.integers(0, 3600, n), rng.beta(2, 5, n), rng.normal(40, 10, n), strict=True)
    ]


def _write(settings: Settings, n: int, hour: datetime) -> None:
    """One flush: one new file in ``hour``."""
    with PredictionLogWriter(settings.prediction_log_dir, max_rows=1_000_000, max_delay_s=60.0) as writer:
        writer.append(DEP, _rows(n, hour))


def _fold(settings: Settings, **kwargs: Any) -> FoldSummary:
    return fold_new_predictions(
        DEP, store_url=settings.store_url, log_root=settings.prediction_log_dir, **kwargs
    )


def _predictions(settings: Settings) -> dict[datetime, int]:
    with session_scope(settings.store_url) as session:
        rows = session.scalars(select(ServiceBucketRow).where(ServiceBucketRow.deployment_id == DEP))
        return {r.hour: r.predictions for r in rows}


def _drift_totals(settings: Settings) -> dict[tuple[datetime, str], int]:
    with session_scope(settings.store_url) as session:
        rows = session.scalars(select(DriftHourRow).where(DriftHourRow.deployment_id == DEP))
        return {
            (r.hour, feature): int(vector.sum())
            for r in rows
            for feature, vector in unpack(r.layout, r.width, r.counts).items()
        }


def _marks(settings: Settings) -> dict[str, tuple[int, str]]:
    with session_scope(settings.store_url) as session:
        rows = session.scalars(select(FoldedFileRow).where(FoldedFileRow.deployment_id == DEP))
        return {r.path: (r.rows, r.stage) for r in rows}


def _hour_files(settings: Settings, hour: datetime) -> list[StoragePath]:
    return list_hour_files(settings.prediction_log_dir, DEP, f"{hour:%Y%m%dT%H}")


def _log_rows(settings: Settings) -> pd.DataFrame:
    frame = read_log_files(list_log_files(settings.prediction_log_dir, DEP))
    return frame.sort_values("row_id").reset_index(drop=True)


def _expect_counts(settings: Settings, written: dict[datetime, int]) -> None:
    """Every bucket total equals the rows written into its hour: nothing lost, nothing twice."""
    assert _predictions(settings) == written
    totals = _drift_totals(settings)
    assert {hour for hour, _ in totals} == set(written)
    for (hour, _feature), total in totals.items():
        assert total == written[hour]


def _compact(settings: Settings, now: datetime) -> compaction_module.CompactionSummary:
    return compact_prediction_log(
        DEP, store_url=settings.store_url, log_root=settings.prediction_log_dir, now=now
    )


def test_fold_compact_fold_retain_fold_keeps_every_count_once(settings: Settings) -> None:
    h11, h12 = H10 + timedelta(hours=1), H10 + timedelta(hours=2)
    written = {H10: 0, h11: 0, h12: 0}
    for hour, sizes in ((H10, (30, 20, 10)), (h11, (40, 5)), (h12, (7,))):
        for n in sizes:
            _write(settings, n, hour)
            written[hour] += n
    assert _fold(settings).files == 6
    _expect_counts(settings, written)
    before = _log_rows(settings)
    messages: list[str] = []

    summary = compact_prediction_log(
        DEP,
        store_url=settings.store_url,
        log_root=settings.prediction_log_dir,
        now=h12 + timedelta(hours=3),
        progress=messages.append,
    )

    assert (summary.hours, summary.files_in, summary.rows, summary.adopted) == (2, 5, 105, 1)
    assert messages and "compacted 3/3 closed hours" in messages[-1]
    assert [len(_hour_files(settings, h)) for h in (H10, h11, h12)] == [1, 1, 1]
    (compacted,) = _hour_files(settings, H10)
    assert "-compacted-" in compacted.name
    assert sorted(_marks(settings).values()) == [(7, "compacted"), (45, "compacted"), (60, "compacted")]
    pd.testing.assert_frame_equal(_log_rows(settings), before)  # readers see the same rows
    assert _fold(settings).files == 0
    assert _fold(settings, rescan=True).files == 0  # even a full scan never folds a compacted file
    _expect_counts(settings, written)

    # A late file in a compacted hour is folded once, then compacted with the hour's file.
    _write(settings, 9, H10)
    written[H10] += 9
    assert _fold(settings).files == 1
    _expect_counts(settings, written)
    assert _compact(settings, h12 + timedelta(hours=3)).hours == 1
    (again,) = _hour_files(settings, H10)
    assert _marks(settings)[again.as_posix().split("predictions/", 1)[1]] == (69, "compacted")
    assert _fold(settings).files == 0
    _expect_counts(settings, written)

    # Retention of one day, two days later: hours 10 and 11 go (their files and marks), buckets stay.
    expired = apply_log_retention(
        DEP,
        store_url=settings.store_url,
        log_root=settings.prediction_log_dir,
        retention_days=1,
        now=h12 + timedelta(days=1, minutes=30),
    )
    assert (expired.hours, expired.files, expired.rows) == (2, 2, 69 + 45)
    assert _hour_files(settings, H10) == [] and _hour_files(settings, h11) == []
    assert len(_hour_files(settings, h12)) == 1
    assert list(_marks(settings).values()) == [(7, "compacted")]
    assert _fold(settings).files == 0
    _expect_counts(settings, written)
    assert len(_log_rows(settings)) == 7

    # A backfill into the deleted hour is folded once, like any late file.
    _write(settings, 4, h11)
    written[h11] += 4
    assert _fold(settings).files == 1
    assert _fold(settings).files == 0
    _expect_counts(settings, written)


def test_retention_is_off_unless_set_and_never_deletes_an_unfolded_file(settings: Settings) -> None:
    _write(settings, 5, H10)
    assert _fold(settings).files == 1
    _write(settings, 3, H10)  # written after the fold: not folded yet
    common = {"store_url": settings.store_url, "log_root": settings.prediction_log_dir}
    far = H10 + timedelta(days=400)

    assert apply_log_retention(DEP, retention_days=None, now=far, **common).files == 0
    assert len(_hour_files(settings, H10)) == 2
    assert apply_log_retention(DEP, retention_days=30, now=far, **common).files == 1
    assert len(_hour_files(settings, H10)) == 1  # only the folded file went
    assert _fold(settings).files == 1  # the late file is still folded, exactly once
    _expect_counts(settings, {H10: 8})
    assert apply_log_retention(DEP, retention_days=30, now=far, **common).files == 1
    assert _hour_files(settings, H10) == []
    with pytest.raises(ValueError, match="retention_days"):
        apply_log_retention(DEP, retention_days=0, now=far, **common)


def test_compaction_never_touches_an_unfolded_file_nor_an_open_hour(settings: Settings) -> None:
    _write(settings, 5, H10)
    _write(settings, 6, H10)
    assert _fold(settings).files == 2
    _write(settings, 7, H10)  # not folded yet

    # Still open: the hour ended 30 minutes ago, the grace is an hour.
    assert _compact(settings, H10 + timedelta(minutes=90)).hours == 0
    assert len(_hour_files(settings, H10)) == 3
    assert _compact(settings, H10 + timedelta(hours=3)).files_in == 2
    names = sorted(p.name for p in _hour_files(settings, H10))
    assert len(names) == 2 and sum("-compacted-" in n for n in names) == 1
    assert _fold(settings).files == 1
    _expect_counts(settings, {H10: 18})


def test_a_pass_after_many_hours_lists_and_looks_up_only_the_new_files(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for h in range(48):
        _write(settings, 2, H10 + timedelta(hours=h))
    first = _fold(settings)
    assert (first.full_scan, first.files, first.listed_hours) == (True, 48, 48)

    listed: list[str] = []
    real = fold_plan_module.list_hour_files
    monkeypatch.setattr(
        fold_plan_module,
        "list_hour_files",
        lambda root, dep, hour: listed.append(hour) or real(root, dep, hour),
    )

    def no_full_listing(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a pass after the first must not list every hour")

    monkeypatch.setattr(fold_plan_module, "list_log_files", no_full_listing)
    _write(settings, 3, H10 + timedelta(hours=48))  # the next hour
    _write(settings, 4, H10 + timedelta(hours=5))  # a late file in an hour long past
    later = _fold(settings)

    assert (later.full_scan, later.files, later.rows) == (False, 2, 7)
    assert (later.listed_hours, later.marks_checked) == (2, 2)
    assert sorted(listed) == ["20240301T15", "20240303T10"]
    assert list_inbox(settings.prediction_log_dir, DEP) == []
    idle = _fold(settings)
    assert (idle.files, idle.listed_hours, idle.marks_checked) == (0, 0, 0)


def test_markers_left_by_a_crash_never_count_twice(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fold(settings)  # the one-off full scan of an empty log
    _write(settings, 5, H10)

    def fail(entries: Any) -> None:
        raise OSError("storage unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(fold_plan_module, "remove_markers", fail)
        assert _fold(settings).files == 1  # committed; the marker could not be deleted
    assert len(list_inbox(settings.prediction_log_dir, DEP)) == 1
    again = _fold(settings)
    assert (again.files, again.marks_checked) == (0, 1)
    assert list_inbox(settings.prediction_log_dir, DEP) == []
    _expect_counts(settings, {H10: 5})


def test_a_marker_whose_file_never_came_waits_then_goes(settings: Settings) -> None:
    _fold(settings)
    written = datetime.now(UTC)
    announce_log_file(settings.prediction_log_dir, DEP, "20240301T10", "part-lost.parquet", now=written)
    common = {"store_url": settings.store_url, "log_root": settings.prediction_log_dir}

    assert plan_fold(DEP, now=written + timedelta(minutes=1), **common).files == []
    assert len(list_inbox(settings.prediction_log_dir, DEP)) == 1  # may still be being written
    assert plan_fold(DEP, now=written + timedelta(hours=1), **common).files == []
    assert list_inbox(settings.prediction_log_dir, DEP) == []


@pytest.fixture
def crash_settings(settings: Settings) -> Iterator[Settings]:
    for n in (10, 20, 30):
        _write(settings, n, H10)
    assert _fold(settings).files == 3
    yield settings


def test_a_crash_after_writing_the_compacted_file_leaves_an_orphan_the_next_compaction_drops(
    crash_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = crash_settings
    before = _log_rows(settings)
    real = compaction_module._rewrite

    def write_then_die(sources: Any, target: Any) -> int:
        real(sources, target)
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch:
        patch.setattr(compaction_module, "_rewrite", write_then_die)
        with pytest.raises(KeyboardInterrupt):
            _compact(settings, H10 + timedelta(hours=3))
    assert len(_hour_files(settings, H10)) == 4  # three parts and the unmarked compacted file
    assert _fold(settings, rescan=True).files == 0  # the orphan is never folded
    _expect_counts(settings, {H10: 60})

    assert _compact(settings, H10 + timedelta(hours=3)).files_in == 3
    assert len(_hour_files(settings, H10)) == 1
    pd.testing.assert_frame_equal(_log_rows(settings), before)
    _expect_counts(settings, {H10: 60})


def test_a_crash_after_the_compaction_commit_is_finished_by_the_next_one(
    crash_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = crash_settings
    before = _log_rows(settings)

    def die(paths: Any) -> None:
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch:
        patch.setattr(compaction_module, "delete_log_files", die)
        with pytest.raises(KeyboardInterrupt):
            _compact(settings, H10 + timedelta(hours=3))
    stages = sorted(stage for _rows, stage in _marks(settings).values())
    assert stages == ["compacted", "superseded", "superseded", "superseded"]
    assert _fold(settings, rescan=True).files == 0  # superseded parts keep their marks: not folded again
    _expect_counts(settings, {H10: 60})

    summary = _compact(settings, H10 + timedelta(hours=3))
    assert (summary.recovered, summary.hours) == (3, 0)
    assert len(_hour_files(settings, H10)) == 1
    assert sorted(_marks(settings).values()) == [(60, "compacted")]
    pd.testing.assert_frame_equal(_log_rows(settings), before)
    _expect_counts(settings, {H10: 60})
