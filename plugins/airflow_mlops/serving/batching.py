"""Micro-batching: concurrent requests for the same model share one model call.

A scikit-learn pipeline costs about as much to call on one row as on a few
hundred (column transformers, validation, the estimator's own overhead: about
3 ms for our churn pipeline on 1 row and on 100), so a server that calls the
model once per request spends most of its time on that fixed cost. The batcher
queues each request's checked features; one task per event loop takes
everything that queued up for the same loaded model (up to
:data:`MAX_BATCH_ROWS` rows), calls the model once in a worker thread, and hands
each request its own rows back.

An idle server scores a lone request at once: there is no fixed batching
window. Under load, the clients answered by one call send their next requests
almost together, and the first to arrive would otherwise be scored alone while
the rest wait behind it. So when the largest of the last :data:`RECENT_CALLS`
calls served *k* requests and fewer are queued, the batcher waits for the others,
at most :data:`MAX_WAIT_S` and never longer than the last call took (a request
arriving later than that would have waited for the model anyway). Waits only
follow batched calls: at low load they never happen, and when load drops they
stop after :data:`RECENT_CALLS` calls.

A batch uses the model object its requests were checked against: a request in
flight during a hot swap finishes on the old model, and never shares a call
with requests for the new one. If a batched call fails, each request of the
batch is scored alone, so an error reaches only the request that caused it.

:meth:`MicroBatcher.predict_timed` also says how long the model call that
scored a request took: the *execution time* the prediction log keeps
(``execution_ms``) beside the request's whole latency. A request that shared a
call is charged the whole call: that is how long its rows were being scored.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from starlette.concurrency import run_in_threadpool

__all__ = ["MAX_BATCH_ROWS", "MAX_WAIT_S", "RECENT_CALLS", "MicroBatcher"]

#: Most rows scored in one model call; a request larger than this is scored alone.
MAX_BATCH_ROWS = 2048
#: How many recent calls set the number of requests worth waiting for (the largest of them).
RECENT_CALLS = 8
#: Longest a queued request waits for the rest of the last batch's clients (see the module docstring).
MAX_WAIT_S = 0.002

Result = tuple[list[dict[str, Any]], np.ndarray]
#: A result with the duration of the model call that produced it, in milliseconds.
Timed = tuple[Result, float]


@dataclass
class _Item:
    model: Any
    features: Any  # anything with len() that ``concat`` joins: a DataFrame, ``inputs.Columns``
    future: asyncio.Future[Timed] = field(repr=False)


class MicroBatcher:
    """Queue ``predict(model, features)`` calls and serve them in as few model calls as load allows.

    ``predict`` is the model call (``scoring.predict_rows``): given a model and
    checked features it returns DataRobot-shaped rows (``rowId`` from 0) and the
    logged values, one per row. ``concat`` joins several requests' features in
    order (default: ``pandas.concat`` of DataFrames).
    """

    def __init__(
        self,
        predict: Callable[[Any, Any], Result],
        *,
        concat: Callable[[list[Any]], Any] | None = None,
        max_rows: int = MAX_BATCH_ROWS,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows!r}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0 seconds, got {max_wait_s!r}")
        self._predict = predict
        self._concat = concat or _concat_frames
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._queue: list[_Item] = []
        self._draining: asyncio.Task[None] | None = None
        # Requests served by the recent calls, and how long the last took: what to wait for, how long.
        self._recent: collections.deque[int] = collections.deque([1], maxlen=RECENT_CALLS)
        self._last_call_s = 0.0
        self._filled: asyncio.Event | None = None
        #: How many model calls were made and how many requests they served (for tests and logs).
        self.calls = 0
        self.requests = 0

    async def predict(self, model: Any, features: Any) -> Result:
        """The request's rows and logged values (``predict``'s answer for just these features)."""
        result, _ms = await self.predict_timed(model, features)
        return result

    async def predict_timed(self, model: Any, features: Any) -> Timed:
        """:meth:`predict`, and how long the model call that scored these rows took (ms)."""
        loop = asyncio.get_running_loop()
        item = _Item(model, features, loop.create_future())
        self._queue.append(item)
        if self._filled is not None and len(self._queue) >= self._expected():
            self._filled.set()
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        return await item.future

    def _take(self) -> list[_Item]:
        """The oldest queued request and the later ones for the same model, up to the row cap."""
        first = self._queue[0]
        batch: list[_Item] = []
        rest: list[_Item] = []
        rows = 0
        for item in self._queue:
            fits = rows + len(item.features) <= self._max_rows or not batch
            if item.model is first.model and fits:
                batch.append(item)
                rows += len(item.features)
            else:
                rest.append(item)
        self._queue = rest
        return batch

    def _expected(self) -> int:
        """How many requests are worth waiting for: the most a recent call served."""
        return max(self._recent)

    async def _gather(self) -> None:
        """After a batched call, wait briefly for the rest of its clients' next requests."""
        wait_s = min(self._max_wait_s, self._last_call_s)
        expected = self._expected()
        if expected <= 1 or len(self._queue) >= expected or wait_s <= 0:
            return
        self._filled = asyncio.Event()
        try:
            await asyncio.wait_for(self._filled.wait(), wait_s)
        except TimeoutError:
            pass
        finally:
            self._filled = None

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await self._gather()
            batch = self._take()
            started = loop.time()
            try:
                results = await run_in_threadpool(self._score, batch)
            except BaseException as exc:  # the loop is shutting down: fail what waits, not the server
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                raise
            self._recent.append(len(batch))
            self._last_call_s = loop.time() - started
            for item, result in zip(batch, results, strict=True):
                if item.future.done():  # the client went away
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)

    def _score(self, batch: list[_Item]) -> list[Timed | BaseException]:
        self.calls += 1
        self.requests += len(batch)
        if len(batch) == 1:
            return [self._alone(batch[0])]
        model = batch[0].model
        try:
            started = time.perf_counter()
            rows, logged = self._predict(model, self._concat([i.features for i in batch]))
            call_ms = (time.perf_counter() - started) * 1000.0
        except Exception:
            # One request's values broke the call: score each alone so only it gets the error.
            return [self._alone(item) for item in batch]
        out: list[Timed | BaseException] = []
        start = 0
        for item in batch:
            n = len(item.features)
            mine = rows[start : start + n]
            for i, row in enumerate(mine):
                row["rowId"] = i
            out.append(((mine, logged[start : start + n]), call_ms))
            start += n
        return out

    def _alone(self, item: _Item) -> Timed | BaseException:
        try:
            started = time.perf_counter()
            result = self._predict(item.model, item.features)
            return result, (time.perf_counter() - started) * 1000.0
        except Exception as exc:
            return exc


def _concat_frames(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)
