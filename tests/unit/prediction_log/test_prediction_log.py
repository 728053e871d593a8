"""The prediction log: buffered, partitioned, atomic, and never silently losing rows."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from airflow_mlops import prediction_log
from airflow_mlops.prediction_log import (
    WARNING_COLUMN,
    PredictionLogWriter,
    feature_frame,
    list_inbox,
    list_log_files,
    read_log_files,
    stringify,
)

T0 = datetime(2024, 1, 1, 10, 15, tzinfo=UTC)


def _rows(
    n: int, *, start: datetime = T0, prefix: str = "a", step: timedelta = timedelta(seconds=1)
) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": start + i * step,
            "association_id": f"{prefix}-{i}",
            "model_version": "v1",
            "prediction": 0.5,
            "status_code": 200,
            "latency_ms": 2.5,
            "features": {"tenure": i, "plan": "basic"},
        }
        for i in range(n)
    ]


def _all_files(root: Path) -> list[Path]:
    """Every file but the inbox markers (``test_inbox.py`` checks those)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name != "_inbox")


def _count(root: Path, deployment: str = "dep") -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in list_log_files(root, deployment))


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_flushes_when_the_buffer_reaches_max_rows(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=10, max_delay_s=60) as writer:
        writer.append("dep", _rows(9))
        assert _all_files(tmp_path) == []
        assert writer.pending == 9
        writer.append("dep", _rows(1, prefix="b"))
        # A full buffer wakes the flush thread at once, long before max_delay_s (60 s).
        assert _wait_for(lambda: writer.pending == 0, 10)
        assert _count(tmp_path) == 10


def test_flushes_after_max_delay_without_an_explicit_flush(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=0.4) as writer:
        writer.append("dep", _rows(3))
        appended = time.monotonic()
        assert _all_files(tmp_path) == []
        assert _wait_for(lambda: _count(tmp_path) == 3, timeout_s=1.5)
        assert time.monotonic() - appended >= 0.3  # by the timer, not right away
        assert writer.pending == 0


def test_flushes_on_close_and_close_is_idempotent(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60)
    writer.append("dep", _rows(5))
    assert _all_files(tmp_path) == []
    writer.close()
    assert _count(tmp_path) == 5
    writer.close()
    assert _count(tmp_path) == 5
    with pytest.raises(RuntimeError, match="closed"):
        writer.append("dep", _rows(1))


def test_context_manager_closes(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append("dep", _rows(4))
    assert _count(tmp_path) == 4


def test_explicit_flush_returns_rows_written(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append("dep", _rows(7))
        assert writer.flush() == 7
        assert writer.flush() == 0
        assert _count(tmp_path) == 7


def test_files_are_partitioned_by_deployment_and_utc_hour(tmp_path: Path) -> None:
    plus_two = timezone(timedelta(hours=2))
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        # 10:59:58 .. 11:00:02 UTC: two hours for deployment "a".
        writer.append("a", _rows(5, start=datetime(2024, 1, 1, 10, 59, 58, tzinfo=UTC), prefix="a"))
        # 13:30+02:00 is 11:30 UTC.
        writer.append("b", _rows(2, start=datetime(2024, 1, 1, 13, 30, tzinfo=plus_two), prefix="b"))

    layout = sorted(str(p.relative_to(tmp_path).parent) for p in _all_files(tmp_path))
    assert layout == [
        "deployment=a/hour=20240101T10",
        "deployment=a/hour=20240101T11",
        "deployment=b/hour=20240101T11",
    ]
    for path in _all_files(tmp_path):
        assert path.name.startswith("part-") and path.name.endswith(".parquet")
        hour = path.parent.name.removeprefix("hour=")
        stamps = pq.read_table(path).column("timestamp").to_pandas()
        assert (stamps.dt.strftime("%Y%m%dT%H") == hour).all()

    files_a = list_log_files(tmp_path, "a")
    assert files_a == sorted(files_a)
    assert [p.parent.name for p in files_a] == ["hour=20240101T10", "hour=20240101T11"]
    assert len(list_log_files(tmp_path, "b")) == 1
    assert list_log_files(tmp_path, "missing") == []
    assert list_log_files(tmp_path, "a", start=datetime(2024, 1, 1, 11, 5, tzinfo=UTC)) == files_a[1:]
    assert list_log_files(tmp_path, "a", end=datetime(2024, 1, 1, 10, 59, tzinfo=UTC)) == files_a[:1]
    window = {
        "start": datetime(2024, 1, 1, 9, 30, tzinfo=UTC),
        "end": datetime(2024, 1, 1, 11, 0, tzinfo=UTC),
    }
    assert list_log_files(tmp_path, "a", **window) == files_a
    assert list_log_files(tmp_path, "a", start=window["end"], end=window["end"]) == files_a[1:]
    assert list_log_files(tmp_path, "missing", **window) == []

    frame = read_log_files(files_a)
    assert len(frame) == 5
    assert (frame["deployment_id"] == "a").all()
    assert frame["timestamp"].is_monotonic_increasing
    assert str(frame["timestamp"].dt.tz) == "UTC"


def test_columns_types_and_features(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {
            "timestamp": T0,
            "association_id": None,
            "model_version": "v2",
            "prediction": "yes",
            "status_code": 200,
            "latency_ms": 1,
            "row_id": "r-0",
            "features": {"n": 1, "x": 1.5, "mixed": 3, "flag": True, "blob": {"k": [1, 2]}, "prediction": 7},
        },
        {
            "timestamp": T0 + timedelta(seconds=1),
            "association_id": "assoc-1",
            "model_version": "v2",
            "prediction": "no",
            "status_code": 422,
            "latency_ms": 2.0,
            "features": {"n": 2, "x": 2, "mixed": "three", "flag": False, "blob": None},
        },
    ]
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append("dep", rows)

    (path,) = list_log_files(tmp_path, "dep")
    schema = pq.read_schema(path)
    assert schema.names == [
        "timestamp",
        "association_id",
        "model_version",
        "prediction",
        "status_code",
        "latency_ms",
        "row_id",
        "f.blob",
        "f.flag",
        "f.mixed",
        "f.n",
        "f.prediction",
        "f.x",
    ]
    assert str(schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("f.n").type) == "int64"
    assert str(schema.field("f.x").type) == "double"  # ints and floats together stay numeric
    assert str(schema.field("f.flag").type) == "bool"
    assert str(schema.field("f.mixed").type) == "string"
    assert str(schema.field("f.blob").type) == "string"

    frame = read_log_files([path])
    assert frame["row_id"].iloc[0] == "r-0"
    assert frame["row_id"].iloc[1]  # generated when the caller gives none
    assert frame["association_id"].tolist() == [None, "assoc-1"]
    assert frame["status_code"].tolist() == [200, 422]
    assert frame["f.mixed"].tolist() == ["3", "three"]
    assert frame["f.blob"].tolist() == ['{"k":[1,2]}', None]
    assert frame["f.prediction"].iloc[0] == 7
    assert frame["prediction"].tolist() == ["yes", "no"]

    features = feature_frame(frame)
    assert list(features.columns) == ["blob", "flag", "mixed", "n", "prediction", "x"]
    assert features["n"].tolist() == [1, 2]


def test_a_short_window_lists_only_its_hours_never_the_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        for day in range(30):
            writer.append("dep", _rows(1, start=T0 + timedelta(days=day)))
    listed: list[str] = []
    real = Path.iterdir

    def spy(self: Path) -> Any:
        listed.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "iterdir", spy)
    files = list_log_files(tmp_path, "dep", start=T0 + timedelta(days=3), end=T0 + timedelta(days=4))
    assert [f.parent.name for f in files] == ["hour=20240104T10", "hour=20240105T10"]
    assert "deployment=dep" not in listed  # a day's window never lists 30 days of hours
    assert len(listed) == 25


def test_reader_unifies_a_column_typed_differently_across_files(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        first = _rows(2)
        first[0]["features"] = {"code": 1}
        first[1]["features"] = {"code": 2.0}
        writer.append("dep", first)
        writer.flush()
        second = _rows(1, start=T0 + timedelta(minutes=1))
        second[0]["features"] = {"code": "A1"}
        writer.append("dep", second)

    assert len(list_log_files(tmp_path, "dep")) == 2
    frame = read_log_files(list_log_files(tmp_path, "dep"))
    # 1 and 2.0 come back as the same text the writer would have produced in one file.
    assert frame["f.code"].tolist() == ["1", "2", "A1"]
    assert [stringify(1), stringify(2.0), stringify(2.5), stringify(True)] == ["1", "2", "2.5", "true"]


def test_many_threads_lose_no_rows(tmp_path: Path) -> None:
    threads, appends, per_append = 8, 60, 7
    failures: list[BaseException] = []
    seen_hidden: list[Path] = []
    stop = threading.Event()

    def reader() -> None:
        # Readers run while writers write: every listed file must be complete.
        while not stop.is_set():
            try:
                files = list_log_files(tmp_path, "dep")
                seen_hidden.extend(p for p in files if p.name.startswith("."))
                if files:
                    read_log_files(files[-3:])
            except BaseException as exc:
                failures.append(exc)
            time.sleep(0.005)

    with PredictionLogWriter(tmp_path, max_rows=64, max_delay_s=0.05) as writer:

        def work(thread: int) -> None:
            try:
                for a in range(appends):
                    writer.append("dep", _rows(per_append, prefix=f"t{thread}-{a}"))
            except BaseException as exc:
                failures.append(exc)

        watcher = threading.Thread(target=reader)
        watcher.start()
        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    stop.set()
    watcher.join()

    assert failures == []
    assert seen_hidden == []
    frame = read_log_files(list_log_files(tmp_path, "dep"))
    expected = {f"t{t}-{a}-{i}" for t in range(threads) for a in range(appends) for i in range(per_append)}
    assert len(frame) == threads * appends * per_append
    assert set(frame["association_id"]) == expected
    assert frame["row_id"].is_unique
    assert len(list_log_files(tmp_path, "dep")) > 1


def test_temporary_files_are_never_listed(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append("dep", _rows(3))
    (complete,) = list_log_files(tmp_path, "dep")
    in_flight = complete.parent / f".{complete.name}.tmp"
    in_flight.write_bytes(b"PAR1 half a file")
    (complete.parent / ".part-x.parquet").write_bytes(b"")
    assert list_log_files(tmp_path, "dep") == [complete]
    assert [p for p in _all_files(tmp_path) if p.name.startswith(".")] == sorted(
        [in_flight, complete.parent / ".part-x.parquet"]
    )


def test_writer_leaves_no_temporary_files(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=5, max_delay_s=60) as writer:
        for _ in range(4):
            writer.append("dep", _rows(5))
    assert _all_files(tmp_path)
    assert [p for p in _all_files(tmp_path) if p.name.startswith(".")] == []


def test_failed_flush_keeps_rows_and_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_write = prediction_log.writer.pq.write_table
    calls = {"n": 0}

    def flaky(table: Any, where: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            Path(where).write_bytes(b"partial")  # a half-written temp file must be cleaned up
            raise OSError("disk full")
        real_write(table, where, **kwargs)

    monkeypatch.setattr(prediction_log.writer.pq, "write_table", flaky)
    writer = PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60)
    writer.append("dep", _rows(4))
    with (
        caplog.at_level(logging.ERROR, logger=prediction_log.__name__),
        pytest.raises(OSError, match="disk full"),
    ):
        writer.flush()
    assert "keeping them buffered" in caplog.text
    assert writer.pending == 4
    assert _all_files(tmp_path) == []
    assert list_inbox(tmp_path, "dep") == []  # the failed file's marker went with it

    writer.append("dep", _rows(2, prefix="later", start=T0 + timedelta(seconds=30)))
    writer.close()
    frame = read_log_files(list_log_files(tmp_path, "dep"))
    assert len(frame) == 6
    assert frame["association_id"].tolist()[:4] == ["a-0", "a-1", "a-2", "a-3"]


def test_partial_failure_does_not_duplicate_written_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = prediction_log.writer.pq.write_table
    failed = {"done": False}

    def fail_hour_11_once(table: Any, where: Any, **kwargs: Any) -> None:
        if "hour=20240101T11" in str(where) and not failed["done"]:
            failed["done"] = True
            raise OSError("transient")
        real_write(table, where, **kwargs)

    monkeypatch.setattr(prediction_log.writer.pq, "write_table", fail_hour_11_once)
    writer = PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60)
    writer.append("dep", _rows(4, start=datetime(2024, 1, 1, 10, 59, 58, tzinfo=UTC)))
    with pytest.raises(OSError):
        writer.flush()
    assert writer.pending == 2
    writer.close()
    frame = read_log_files(list_log_files(tmp_path, "dep"))
    assert len(frame) == 4
    assert frame["row_id"].is_unique


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timestamp": datetime(2024, 1, 1, 10)}, "timezone-aware"),
        ({"status_code": "200"}, "status_code"),
        ({"latency_ms": None}, "latency_ms"),
        ({"features": ["a"]}, "features"),
        ({"f.x": 1}, "extra key"),
    ],
)
def test_bad_rows_are_rejected_before_buffering(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        bad = _rows(2)
        bad[1].update(change)
        with pytest.raises(ValueError, match=message):
            writer.append("dep", bad)
        assert writer.pending == 0
        incomplete = _rows(1)
        del incomplete[0]["model_version"]
        with pytest.raises(ValueError, match="model_version"):
            writer.append("dep", incomplete)
        with pytest.raises(ValueError, match="deployment_id"):
            writer.append("../x", _rows(1))
    assert _all_files(tmp_path) == []


def test_pandas_timestamps_are_accepted(tmp_path: Path) -> None:
    rows = _rows(1)
    rows[0]["timestamp"] = pd.Timestamp("2024-01-01T12:00:00.123456789+01:00")
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append("dep", rows)
    frame = read_log_files(list_log_files(tmp_path, "dep"))
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-01T11:00:00.123456Z")
    assert list_log_files(tmp_path, "dep")[0].parent.name == "hour=20240101T11"


def test_read_no_files_gives_an_empty_frame() -> None:
    frame = read_log_files([])
    assert len(frame) == 0
    assert "timestamp" in frame.columns and "deployment_id" in frame.columns


def _batch(n: int, **change: Any) -> prediction_log.PredictionBatch:
    fields: dict[str, Any] = {
        "size": n,
        "timestamp": T0,
        "model_version": "v1",
        "status_code": 200,
        "latency_ms": 2.5,
        "prediction": [0.5] * n,
        "features": pd.DataFrame({"tenure": list(range(n)), "plan": ["basic"] * n}),
        "association_id": [f"a-{i}" for i in range(n)],
    }
    fields.update(change)
    return prediction_log.PredictionBatch(**fields)


def test_a_batch_is_written_exactly_like_the_same_rows(tmp_path: Path) -> None:
    """append_batch (columns, the server's path) and append (row dicts) give the same file."""
    rows_dir, batch_dir = tmp_path / "rows", tmp_path / "batch"
    with PredictionLogWriter(rows_dir, max_rows=1000, max_delay_s=60) as writer:
        writer.append("dep", [{**row, "timestamp": T0, "data_collected": True} for row in _rows(3)])
    with PredictionLogWriter(batch_dir, max_rows=1000, max_delay_s=60) as writer:
        writer.append_batch("dep", _batch(3, extras={"data_collected": True}))
    (by_rows,) = list_log_files(rows_dir, "dep")
    (by_batch,) = list_log_files(batch_dir, "dep")
    assert pq.read_schema(by_batch) == pq.read_schema(by_rows)
    expected = read_log_files([by_rows]).drop(columns="row_id")
    got = read_log_files([by_batch])
    assert got["row_id"].is_unique
    pd.testing.assert_frame_equal(got.drop(columns="row_id"), expected)


def test_batches_typed_differently_follow_the_per_file_rule(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append_batch("dep", _batch(2, features=pd.DataFrame({"code": [1, 2], "flag": [True, False]})))
        writer.append_batch("dep", _batch(1, features=pd.DataFrame({"code": [2.5], "flag": [1]})))
        writer.append_batch("dep", _batch(1, features=pd.DataFrame({"other": ["x"]}), prediction=None))
    (path,) = list_log_files(tmp_path, "dep")
    schema = pq.read_schema(path)
    assert str(schema.field("f.code").type) == "double"  # ints and floats together stay numeric
    assert str(schema.field("f.flag").type) == "string"  # bools mixed with ints become text
    frame = read_log_files([path])
    assert frame["f.code"].tolist()[:3] == [1.0, 2.0, 2.5]
    assert frame["f.flag"].tolist() == ["true", "false", "1", None]
    assert frame["f.other"].tolist() == [None, None, None, "x"]
    assert pd.isna(frame["prediction"].iloc[3]) and frame["prediction"].iloc[0] == 0.5


def test_the_warning_flag_is_a_bool_column_null_where_warnings_were_off(tmp_path: Path) -> None:
    """The server logs one bool array per request with warnings on, nothing with them off."""
    import numpy as np

    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append_batch("dep", _batch(3, extras={WARNING_COLUMN: np.array([True, False, True])}))
        writer.append_batch("dep", _batch(2))  # warnings off: no flag
        writer.append_batch("dep", _batch(1, extras={WARNING_COLUMN: np.array([False])}))
    (path,) = list_log_files(tmp_path, "dep")
    assert str(pq.read_schema(path).field(WARNING_COLUMN).type) == "bool"
    assert read_log_files([path])[WARNING_COLUMN].tolist() == [True, False, True, None, None, False]
    with PredictionLogWriter(tmp_path / "off", max_rows=1000, max_delay_s=60) as writer:
        writer.append_batch("dep", _batch(2))
    (off,) = list_log_files(tmp_path / "off", "dep")
    assert WARNING_COLUMN not in pq.read_schema(off).names


def test_a_batch_over_several_hours_is_split_with_unique_row_ids(tmp_path: Path) -> None:
    stamps = [datetime(2024, 1, 1, 10, 59, tzinfo=UTC), datetime(2024, 1, 1, 12, 1, tzinfo=plus_one)]
    stamps += [datetime(2024, 1, 1, 10, 30, tzinfo=UTC)]
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append_batch("dep", _batch(3, timestamp=pd.Series(stamps)))
        assert writer.pending == 3
    files = list_log_files(tmp_path, "dep")
    assert [p.parent.name for p in files] == ["hour=20240101T10", "hour=20240101T11"]
    frame = read_log_files(files)
    assert frame["row_id"].is_unique
    assert frame["f.tenure"].tolist() == [2, 0, 1]  # ordered by time; each row kept its values
    assert frame["association_id"].tolist() == ["a-2", "a-0", "a-1"]


plus_one = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timestamp": datetime(2024, 1, 1, 10)}, "timezone-aware"),
        ({"timestamp": [datetime(2024, 1, 1, 10)] * 2}, "timezone-aware"),
        ({"timestamp": [T0]}, "one per row"),
        ({"status_code": "200"}, "status_code"),
        ({"latency_ms": None}, "latency_ms"),
        ({"prediction": [1.0]}, "prediction must hold one value per row"),
        ({"association_id": "a"}, "association_id"),
        ({"features": pd.DataFrame({"x": [1]})}, "features must hold 2 rows"),
        ({"extras": {"f.x": 1}}, "extra key"),
        ({"extras": {"latency_ms": 1}}, "own columns"),
    ],
)
def test_bad_batches_are_rejected_before_buffering(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        with pytest.raises(ValueError, match=message):
            writer.append_batch("dep", _batch(2, **change))
        assert writer.pending == 0
    assert _all_files(tmp_path) == []


def test_a_value_shared_by_a_batch_follows_the_rule_across_batches(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60) as writer:
        writer.append_batch("dep", _batch(2, extras={"source": True, "cost": 1}))
        writer.append_batch("dep", _batch(1, extras={"source": 1, "cost": 2.5}))
    frame = read_log_files(list_log_files(tmp_path, "dep"))
    assert frame["source"].tolist() == ["true", "true", "1"], "True and 1 are not the same value"
    assert frame["cost"].tolist() == [1.0, 1.0, 2.5]
