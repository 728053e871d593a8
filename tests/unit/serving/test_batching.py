"""Micro-batching: concurrent requests share model calls, each gets exactly its own rows, errors stay local."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pandas as pd

from airflow_mlops.serving.batching import RECENT_CALLS, MicroBatcher


class Model:
    """Doubles ``x``; refuses negative values (as a model refuses values its signature allowed)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.delay_s = 0.0

    def predict(self, features: pd.DataFrame) -> tuple[list[dict[str, Any]], list[Any]]:
        assert self.gate.wait(10)
        time.sleep(self.delay_s)
        self.calls.append(len(features))
        if (features["x"] < 0).any():
            raise ValueError("x must not be negative")
        values = (features["x"] * 2).tolist()
        rows = [{"rowId": i, "prediction": v, "model": self.name} for i, v in enumerate(values)]
        return rows, values


def _predict(model: Model, features: pd.DataFrame) -> tuple[list[dict[str, Any]], list[Any]]:
    return model.predict(features)


def _frame(*xs: float) -> pd.DataFrame:
    return pd.DataFrame({"x": list(xs)})


def test_requests_queued_while_the_model_is_busy_share_one_call() -> None:
    async def scenario() -> tuple[list[Any], Model, MicroBatcher]:
        model = Model("m1")
        batcher = MicroBatcher(_predict)
        model.gate.clear()  # hold the first call so the others queue behind it
        first = asyncio.create_task(batcher.predict(model, _frame(1)))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(batcher.predict(model, _frame(10 * i, 10 * i + 1))) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        model.gate.set()
        return await asyncio.gather(first, *rest), model, batcher

    results, model, batcher = asyncio.run(scenario())
    assert model.calls == [1, 10], "a lone request is scored at once; the five queued ones in one call"
    assert (batcher.calls, batcher.requests) == (2, 6)
    assert results[0] == ([{"rowId": 0, "prediction": 2, "model": "m1"}], [2])
    for i, (rows, logged) in enumerate(results[1:], start=1):
        assert [r["rowId"] for r in rows] == [0, 1], "row ids restart for every request"
        assert [r["prediction"] for r in rows] == logged == [20 * i, 20 * i + 2]


def test_a_bad_request_fails_alone_and_models_are_never_mixed() -> None:
    async def scenario() -> tuple[list[Any], Model, Model]:
        old, new = Model("old"), Model("new")
        batcher = MicroBatcher(_predict)
        old.gate.clear()
        first = asyncio.create_task(batcher.predict(old, _frame(1)))
        await asyncio.sleep(0.05)
        queued = [
            asyncio.create_task(batcher.predict(old, _frame(2))),
            asyncio.create_task(batcher.predict(old, _frame(-1))),  # breaks the batched call
            asyncio.create_task(batcher.predict(new, _frame(3))),  # the swapped-in model
            asyncio.create_task(batcher.predict(old, _frame(4))),
        ]
        await asyncio.sleep(0.05)
        old.gate.set()
        return await asyncio.gather(first, *queued, return_exceptions=True), old, new

    results, old, new = asyncio.run(scenario())
    assert results[0][1] == [2] and results[1][1] == [4] and results[4][1] == [8]
    assert isinstance(results[2], ValueError) and "negative" in str(results[2])
    assert results[3][0][0]["model"] == "new", "a request checked against the new model is scored by it"
    # old: the lone first call, the failed batch of three, then each of the three alone.
    assert old.calls == [1, 3, 1, 1, 1]
    assert new.calls == [1]


def test_the_row_cap_splits_batches_but_never_a_request() -> None:
    async def scenario() -> Model:
        model = Model("m")
        batcher = MicroBatcher(_predict, max_rows=4)
        model.gate.clear()
        first = asyncio.create_task(batcher.predict(model, _frame(0)))
        await asyncio.sleep(0.05)
        tasks = [asyncio.create_task(batcher.predict(model, _frame(*range(n)))) for n in (3, 2, 6)]
        await asyncio.sleep(0.05)
        model.gate.set()
        await asyncio.gather(first, *tasks)
        return model

    model = asyncio.run(scenario())
    assert model.calls == [1, 3, 2, 6], "3+2 > 4 rows: separate calls; a 6-row request goes alone"


def test_after_a_batched_call_a_lone_request_waits_briefly_for_the_rest() -> None:
    """Clients answered together send their next requests almost together: score them together.

    Without the wait, the first of them would be scored alone and the others behind it.
    """

    async def scenario() -> tuple[Model, list[float]]:
        model = Model("m")
        batcher = MicroBatcher(_predict, max_wait_s=1.0)
        model.gate.clear()
        first = asyncio.create_task(batcher.predict(model, _frame(0)))
        await asyncio.sleep(0.05)
        held = [asyncio.create_task(batcher.predict(model, _frame(i))) for i in (1, 2, 3)]
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        model.delay_s = 0.2  # every call now takes 0.2 s: waits are capped at that, not at 1 s
        model.gate.set()
        await asyncio.gather(first, *held)
        # The three clients come back 20 ms apart: one call for all of them.
        returning = [asyncio.create_task(batcher.predict(model, _frame(4)))]
        for i in (5, 6):
            await asyncio.sleep(0.02)
            returning.append(asyncio.create_task(batcher.predict(model, _frame(i))))
        await asyncio.gather(*returning)
        # Load drops to one client: its requests wait (each at most the last call's time)
        # until the recent batched calls are forgotten, then never.
        waits = []
        for i in range(RECENT_CALLS + 2):
            t0 = loop.time()
            await batcher.predict(model, _frame(i))
            waits.append(loop.time() - t0)
        return model, waits

    model, waits = asyncio.run(scenario())
    assert model.calls[:3] == [1, 3, 3], "the three returning clients were scored in one call"
    assert model.calls[3:] == [1] * (RECENT_CALLS + 2)
    # Each call takes 0.2 s; a waiting lone request also waited up to the last call's 0.2 s.
    waited = [w >= 0.3 for w in waits]
    assert waited[0], "after a batched call, a lone request waits for the others"
    assert max(waits) < 0.9, "the wait is capped by the last call's duration, not by max_wait_s"
    assert waited[-2:] == [False, False], "once only lone calls are recent, nothing is waited for"
    assert waited == sorted(waited, reverse=True), "waiting stops for good once it stops"


def test_each_request_is_charged_the_model_call_that_scored_it() -> None:
    """``predict_timed``: requests sharing a call get its duration; queueing for it is not counted."""

    async def scenario() -> list[Any]:
        model = Model("m")
        batcher = MicroBatcher(_predict)
        model.gate.clear()  # the first call waits at the gate: that wait is inside its model call
        first = asyncio.create_task(batcher.predict_timed(model, _frame(1)))
        await asyncio.sleep(0.05)
        queued = [asyncio.create_task(batcher.predict_timed(model, _frame(i))) for i in (2, 3)]
        await asyncio.sleep(0.2)  # queued while the first call runs: not part of their call
        model.delay_s = 0.05
        model.gate.set()
        return await asyncio.gather(first, *queued)

    (lone, lone_ms), *shared = asyncio.run(scenario())
    assert lone == ([{"rowId": 0, "prediction": 2, "model": "m"}], [2])
    assert lone_ms >= 250, "the first call was held at the gate for ~0.25 s"
    (one, one_ms), (two, two_ms) = shared
    assert (one[1], two[1]) == ([4], [6])
    assert one_ms == two_ms, "one call served both: both are charged all of it"
    assert 50 <= one_ms < 250, "the model call (0.05 s), not the time spent queued behind the first"
