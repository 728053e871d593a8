"""The batching writer: buffers, a flush thread, atomic file writes, retries that never duplicate.

When the log cannot be written (a full disk, a directory made read-only, an
unreachable bucket) nothing is dropped: the rows stay buffered in memory, in
order, and the flush thread retries with a back-off (0.5 s doubling to
:data:`MAX_RETRY_S`). Memory is what bounds this, so a server's writer takes
``max_pending_rows``: once that many rows wait, :meth:`PredictionLogWriter.ensure_capacity`
raises :class:`PredictionLogUnavailable` and the server refuses new predictions
*before* scoring them (503 with ``Retry-After``), rather than answer predictions
it could not log. When a retry succeeds the buffered rows are written and
predictions are accepted again, without a restart.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

import pyarrow.parquet as pq

from airflow_mlops.prediction_log.arrow import to_table
from airflow_mlops.prediction_log.chunks import (
    Chunk,
    PredictionBatch,
    batch_chunks,
    normalize_row,
    rows_chunk,
)
from airflow_mlops.prediction_log.inbox import announce_log_file, drop_marker
from airflow_mlops.prediction_log.layout import check_deployment_id
from airflow_mlops.storage import StoragePath, as_storage_path, is_local, parquet_bytes, write_bytes_atomic

logger = logging.getLogger(__name__)

_MIN_RETRY_S = 0.5
#: The longest wait between two retries of a failing flush: also how long after the
#: directory is writable again the buffered rows may still wait.
MAX_RETRY_S = 4.0


class PredictionLogUnavailable(RuntimeError):
    """Too many rows wait to be written: new predictions must be refused until they are.

    ``retry_after_s`` is when the next write attempt is due (whole seconds, at least 1),
    what a server answers in ``Retry-After``.
    """

    def __init__(self, message: str, *, pending: int, retry_after_s: int) -> None:
        super().__init__(message)
        self.pending = pending
        self.retry_after_s = retry_after_s


class WriterEvents(Protocol):
    """What a writer reports as it goes (the prediction server turns these into Prometheus metrics).

    Called with the writer's lock held, so the pending counts arrive in order: an
    implementation must be quick and must not call back into the writer.
    """

    def pending(self, rows: int) -> None:
        """Rows accepted and not yet written, after a change."""

    def written(self, rows: int) -> None:
        """A flush wrote ``rows`` rows."""

    def failed(self) -> None:
        """A flush failed (its rows stay buffered for the next one)."""


class PredictionLogWriter:
    """Buffers prediction rows and writes them as immutable Parquet files.

    Thread-safe; one writer per process is enough for any number of
    deployments. Always :meth:`close` it (or use ``with``): buffered rows are
    written then, and an interpreter exit also closes writers left open.

    ``max_pending_rows`` bounds what a failing log may hold in memory, but only
    for callers that ask :meth:`ensure_capacity` before doing the work whose rows
    they will append (the prediction server does, per request): appends
    themselves never refuse rows, since the work they record is already done.
    ``None`` (the default): no bound, for short-lived writers (batch scoring,
    reports) that raise on :meth:`close` instead. ``events``, if given, hears of
    pending rows, written rows and failed flushes (:class:`WriterEvents`).
    """

    def __init__(
        self,
        root: StoragePath | str | os.PathLike[str],
        *,
        max_rows: int = 5000,
        max_delay_s: float = 1.0,
        max_pending_rows: int | None = None,
        events: WriterEvents | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        if not max_delay_s > 0:
            raise ValueError(f"max_delay_s must be > 0, got {max_delay_s}")
        if max_pending_rows is not None and max_pending_rows < 1:
            raise ValueError(f"max_pending_rows must be >= 1 (or None for no bound), got {max_pending_rows}")
        self._root = as_storage_path(root)
        self._max_rows = max_rows
        self._max_delay_s = float(max_delay_s)
        self._max_pending_rows = max_pending_rows
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        # Serialises flushes so rows put back after a failure cannot be overtaken
        # by a concurrent flush, and so two size-triggered flushes do not both
        # write half-empty files.
        self._flush_lock = threading.Lock()
        self._buffer: list[Chunk] = []
        self._rows = 0
        # Rows a flush has taken out of the buffer and is writing: still pending, or a
        # failing flush would open the gate of ensure_capacity each time it retries.
        self._in_flight = 0
        self._closed = False
        self._retry_at = 0.0
        self._failures = 0  # consecutive failed flushes; 0 while writing works
        self._last_error: str | None = None
        self._events = events
        self._thread = threading.Thread(target=self._run, name="prediction-log-flusher", daemon=True)
        self._thread.start()
        _OPEN_WRITERS.add(self)

    @property
    def root(self) -> StoragePath:
        return self._root

    @property
    def pending(self) -> int:
        """Rows accepted but not yet on disk (including rows kept after a failed flush, and rows being written)."""
        with self._lock:
            return self._rows + self._in_flight

    @property
    def max_pending_rows(self) -> int | None:
        return self._max_pending_rows

    @property
    def last_error(self) -> str | None:
        """Why the last flush failed (``OSError: [Errno 28] No space left…``), or ``None`` once one succeeds."""
        with self._lock:
            return self._last_error

    def ensure_capacity(self) -> None:
        """Raise :class:`PredictionLogUnavailable` while flushes fail and ``max_pending_rows`` rows wait.

        Call it before doing work whose rows will be appended. Requests already past
        this check still append, so memory is bounded by the limit plus what the
        requests in flight at that moment carry. A writer whose flushes succeed never
        refuses: its backlog is bounded by ``max_rows`` (a full buffer is written at once).
        """
        with self._lock:
            pending = self._rows + self._in_flight
            if self._max_pending_rows is None or self._failures == 0 or pending < self._max_pending_rows:
                return
            error = self._last_error
            wait = max(1, math.ceil(self._retry_at - time.monotonic()))
        raise PredictionLogUnavailable(
            f"prediction log unavailable: {pending} rows waiting to be written to {self._root}: {error}",
            pending=pending,
            retry_after_s=wait,
        )

    def append(self, deployment_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Accept row dicts for one deployment; raises ``ValueError`` for malformed rows.

        All rows are validated before any is buffered, so a bad row never
        poisons the buffer (it would make every later flush fail). A flush this
        call triggers is logged, not raised, on failure: the rows were accepted
        and stay buffered, and an exception here would invite a duplicate retry.
        """
        check_deployment_id(deployment_id)
        # One random id per call, suffixed per row: unique like a uuid per row, without a
        # urandom call for each.
        base = uuid.uuid4().hex
        normalized = [normalize_row(row, index, base) for index, row in enumerate(rows)]
        if not normalized:
            return
        by_hour: dict[str, list[dict[str, Any]]] = {}
        for hour, record in normalized:
            by_hour.setdefault(hour, []).append(record)
        self._accept([rows_chunk(deployment_id, hour, records) for hour, records in by_hour.items()])

    def append_batch(self, deployment_id: str, batch: PredictionBatch) -> None:
        """Accept one request's (or one batch chunk's) rows as columns; ``ValueError`` if malformed.

        The cheap path for the server: checks are per column, not per row, and
        the feature frame is kept by reference (the caller must not modify it).
        """
        check_deployment_id(deployment_id)
        self._accept(batch_chunks(deployment_id, batch))

    def flush(self) -> int:
        """Write everything buffered now; returns the number of rows written.

        On failure, rows that could not be written stay buffered and the first
        error is re-raised after being logged.
        """
        return self._flush()

    def close(self) -> None:
        """Stop the background thread and write what is left; safe to call again.

        If the final write fails the error is raised and the rows stay
        buffered, so calling ``close()`` again retries them.
        """
        with self._lock:
            self._closed = True
            self._wakeup.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self._flush()
        _OPEN_WRITERS.discard(self)

    def __enter__(self) -> PredictionLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------

    def _accept(self, chunks: list[Chunk]) -> None:
        if not chunks:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError(f"prediction log writer for {self._root} is closed")
            self._buffer.extend(chunks)
            self._rows += sum(chunk.size for chunk in chunks)
            if self._events is not None:
                self._events.pending(self._rows + self._in_flight)
            # A full buffer wakes the flush thread, which writes it at once: the request that
            # filled it does not convert and write thousands of rows itself (that stalled
            # the serving event loop; profiled). While flushes fail, only the flush thread
            # retries, on its back-off.
            self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    if self._closed:
                        return  # close() does the final flush itself
                    if self._buffer:
                        full = self._rows >= self._max_rows and self._failures == 0
                        due = self._retry_at if full else self._buffer[0].arrived + self._max_delay_s
                        due = max(due, self._retry_at)
                        delay = due - time.monotonic()
                        if delay <= 0:
                            break
                        self._wakeup.wait(delay)
                    else:
                        self._wakeup.wait()
            # Logged by _flush; the rows are kept and retried after the back-off.
            with contextlib.suppress(Exception):
                self._flush()

    def _flush(self) -> int:
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
                written = self._rows
                self._rows = 0
                self._in_flight = written
            if not batch:
                with self._lock:
                    self._in_flight = 0
                return 0

            groups: dict[tuple[str, str], list[Chunk]] = {}
            for chunk in batch:
                groups.setdefault((chunk.deployment_id, chunk.hour), []).append(chunk)
            failed_keys: set[tuple[str, str]] = set()
            first_error: Exception | None = None
            for key, chunks in groups.items():
                try:
                    self._write_group(key[0], key[1], chunks)
                except Exception as exc:
                    failed_keys.add(key)
                    first_error = first_error or exc
                    # The traceback once per outage; then a line per retry, not a traceback a second.
                    logger.log(
                        logging.ERROR if self._failures == 0 else logging.WARNING,
                        "prediction log: writing %d row(s) for deployment %r hour %s under %s failed (%s); "
                        "keeping them buffered for the next flush",
                        sum(chunk.size for chunk in chunks),
                        key[0],
                        key[1],
                        self._root,
                        f"{type(exc).__name__}: {exc}",
                        exc_info=self._failures == 0,
                    )
            if first_error is None:
                with self._lock:
                    self._in_flight = 0
                    self._failures = 0
                    self._last_error = None
                    if self._events is not None:
                        self._events.written(written)
                        self._events.pending(self._rows)
                return written

            kept = [chunk for chunk in batch if (chunk.deployment_id, chunk.hour) in failed_keys]
            with self._lock:
                # Older rows go back in front, so the buffer stays ordered by arrival.
                self._buffer[:0] = kept
                self._rows += sum(chunk.size for chunk in kept)
                self._in_flight = 0
                self._failures += 1
                self._last_error = f"{type(first_error).__name__}: {first_error}"
                back_off = _MIN_RETRY_S * 2 ** min(self._failures - 1, 16)
                self._retry_at = time.monotonic() + max(self._max_delay_s, min(back_off, MAX_RETRY_S))
                if self._events is not None:
                    written_now = written - sum(chunk.size for chunk in kept)
                    if written_now:
                        self._events.written(written_now)
                    self._events.failed()
                    self._events.pending(self._rows)
            raise first_error

    def _write_group(self, deployment_id: str, hour: str, chunks: list[Chunk]) -> None:
        """Write one immutable file so a concurrent reader sees all of it or nothing.

        Locally: a hidden ``.part-...tmp`` renamed into place. On object storage
        (an fsspec root) the file is serialised in memory and stored with one
        PUT of the final key: a PUT is already all-or-nothing for readers there,
        while a rename would be a copy and a delete. The bytes are one flush's
        rows of one deployment-hour, which the flush already holds as Arrow.
        """
        directory = self._root / f"deployment={deployment_id}" / f"hour={hour}"
        now = datetime.now(UTC)
        name = f"part-{now:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex}.parquet"
        # The inbox marker goes first (see prediction_log/inbox.py): a crash after it leaves
        # a marker the fold drops later, never a file no fold would find. It is also the cheap
        # probe: an unwritable root fails here, before a backlog is converted to Arrow.
        marker = announce_log_file(self._root, deployment_id, hour, name, now=now)
        try:
            table = to_table(chunks)
            if not is_local(directory):
                write_bytes_atomic(directory / name, parquet_bytes(table))
                return
            directory.mkdir(parents=True, exist_ok=True)
            tmp = directory / f".{name}.tmp"
            try:
                pq.write_table(table, tmp)
                os.replace(tmp, directory / name)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except BaseException:
            # The retry writes under a new name with a new marker; this one would only wait out its grace.
            with contextlib.suppress(Exception):
                drop_marker(marker)
            raise


_OPEN_WRITERS: weakref.WeakSet[PredictionLogWriter] = weakref.WeakSet()


@atexit.register
def _close_open_writers() -> None:
    """Daemon threads die silently at exit; write their buffered rows first."""
    for writer in list(_OPEN_WRITERS):
        try:
            writer.close()
        except Exception:
            logger.exception("prediction log: could not flush %s at exit", writer.root)


# --- rows and batches -> chunks -------------------------------------------------------------
