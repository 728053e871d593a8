"""The writer's bounded backlog: rows kept while the root cannot be written, refusal past the bound.

The fault is real and needs no privileges: the log root is a plain *file*, so every
directory the writer makes under it fails (``NotADirectoryError``); replacing the
file by a directory heals it. The server-level test with a full disk and an
immutable tree is ``tests/unit/serving/test_prediction_log_faults.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.config import get_settings
from airflow_mlops.prediction_log import (
    PredictionLogUnavailable,
    PredictionLogWriter,
    list_log_files,
    read_log_files,
)

T0 = datetime(2024, 1, 1, 10, 15, tzinfo=UTC)


def _rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": T0 + timedelta(seconds=start + i),
            "association_id": f"a-{start + i}",
            "model_version": "v1",
            "prediction": 0.5,
            "status_code": 200,
            "latency_ms": 2.5,
            "features": {"tenure": i},
        }
        for i in range(n)
    ]


def test_rows_wait_in_memory_up_to_the_bound_then_new_work_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "log"
    root.write_text("not a directory")
    writer = PredictionLogWriter(root, max_rows=1000, max_delay_s=0.05, max_pending_rows=5)
    try:
        writer.append("dep", _rows(3))
        writer.ensure_capacity()  # below the bound: still accepted
        with pytest.raises(NotADirectoryError):
            writer.flush()
        assert writer.pending == 3
        assert writer.last_error is not None and "NotADirectoryError" in writer.last_error
        writer.ensure_capacity()  # failing, but below the bound

        writer.append("dep", _rows(3, start=3))  # work already done is never refused
        assert writer.pending == 6
        with pytest.raises(PredictionLogUnavailable) as refused:
            writer.ensure_capacity()
        assert str(refused.value).startswith(
            f"prediction log unavailable: 6 rows waiting to be written to {root}: NotADirectoryError"
        )
        assert refused.value.pending == 6
        assert refused.value.retry_after_s >= 1

        root.unlink()
        root.mkdir()  # writable again: the flush thread's next retry writes the backlog
        deadline = time.monotonic() + 15
        while writer.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.pending == 0
        assert writer.last_error is None
        writer.ensure_capacity()
    finally:
        if root.is_file():
            root.unlink()
            root.mkdir()
        writer.close()
    frame = read_log_files(list_log_files(root, "dep"))
    assert sorted(frame["association_id"]) == sorted(f"a-{i}" for i in range(6))


def test_a_healthy_writer_never_refuses_however_much_is_buffered(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_rows=1000, max_delay_s=60, max_pending_rows=2) as writer:
        writer.append("dep", _rows(10))
        writer.ensure_capacity()  # no flush has failed: a burst is not an outage


def test_the_bound_is_validated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_pending_rows must be >= 1"):
        PredictionLogWriter(tmp_path, max_pending_rows=0)
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_MAX_PENDING_ROWS", "lots")
    with pytest.raises(ValueError, match="MLOPS_PREDICTION_LOG_MAX_PENDING_ROWS='lots' is not valid"):
        get_settings()
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_MAX_PENDING_ROWS", "250000")
    assert get_settings().prediction_log_max_pending_rows == 250_000


class _Recorder:
    """A ``WriterEvents`` that keeps what it heard, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def pending(self, rows: int) -> None:
        self.events.append(("pending", rows))

    def written(self, rows: int) -> None:
        self.events.append(("written", rows))

    def failed(self) -> None:
        self.events.append(("failed", 0))


def test_the_writer_reports_pending_written_and_failed_flushes(tmp_path: Path) -> None:
    """What the prediction server's Prometheus metrics are made of (``serving/metrics.py``)."""
    root = tmp_path / "log"
    root.write_text("not a directory")
    heard = _Recorder()
    writer = PredictionLogWriter(root, max_rows=1000, max_delay_s=60, events=heard)
    try:
        writer.append("dep", _rows(3))
        writer.append("dep", _rows(2, start=3))
        with pytest.raises(NotADirectoryError):
            writer.flush()
        assert heard.events == [("pending", 3), ("pending", 5), ("failed", 0), ("pending", 5)]

        root.unlink()
        root.mkdir()
        heard.events.clear()
        assert writer.flush() == 5
        assert heard.events == [("written", 5), ("pending", 0)]
    finally:
        writer.close()
