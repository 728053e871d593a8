"""The worker's auth cache: trusted only under the epoch last read and only while that read is fresh."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.exc import OperationalError

from airflow_mlops.security import AuthCache


class Epochs:
    """A stand-in for the store's counter that the test moves, or makes unreachable."""

    def __init__(self) -> None:
        self.value = 0
        self.down = False
        self.reads = 0

    def __call__(self, _url: str) -> int:
        self.reads += 1
        if self.down:
            raise OperationalError("SELECT epoch", {}, Exception("connection refused"))
        return self.value


def _cache(epochs: Epochs, **kw: float) -> AuthCache:
    return AuthCache(
        "sqlite://", read_epoch=epochs, poll_s=kw.get("poll_s", 60), fresh_s=kw.get("fresh_s", 120)
    )


def test_a_lookup_is_cached_and_a_moved_epoch_drops_it() -> None:
    epochs = Epochs()
    cache = _cache(epochs)
    calls: list[str] = []
    assert cache.lookup("k", lambda: calls.append("store") or "alice") == "alice"
    assert cache.get("k") == (True, "alice")
    epochs.value = 1
    cache.poll()
    assert cache.get("k") == (False, None)
    assert cache.lookup("k", lambda: calls.append("store") or "bob") == "bob"
    assert calls == ["store", "store"]
    cache.stop()


def test_entries_are_not_trusted_once_the_last_epoch_read_is_older_than_fresh_s() -> None:
    epochs = Epochs()
    cache = AuthCache("sqlite://", read_epoch=epochs, poll_s=0.01, fresh_s=0.2)
    cache.lookup("k", lambda: "alice")
    cache.stop()  # the poller stops: nothing confirms the epoch any more
    assert cache.get("k") == (True, "alice")
    time.sleep(0.3)
    assert cache.get("k") == (False, None)
    reads = epochs.reads
    assert cache.lookup("k", lambda: "alice again") == "alice again"
    assert epochs.reads == reads + 1  # the lookup read the epoch itself before trusting anything
    cache.stop()


def test_an_answer_that_raced_a_change_is_not_kept() -> None:
    epochs = Epochs()
    cache = _cache(epochs)
    cache.poll()

    def lookup_while_revoked() -> str:
        epochs.value = 5  # committed while the store was being asked
        cache.poll()
        return "stale answer"

    assert cache.lookup("k", lookup_while_revoked) == "stale answer"
    assert cache.get("k") == (False, None)
    cache.stop()


def test_while_the_store_is_unreachable_cached_entries_answer_and_others_fail() -> None:
    epochs = Epochs()
    cache = AuthCache("sqlite://", read_epoch=epochs, poll_s=0.01, fresh_s=0.2)
    cache.lookup("known", lambda: "alice")
    epochs.down = True
    time.sleep(0.3)  # the poller fails: the entry is no longer fresh, but the store is known away
    assert cache.get("known") == (True, "alice")

    def store_down() -> str:
        raise OperationalError("SELECT token", {}, Exception("connection refused"))

    assert cache.lookup("known", store_down) == "alice"
    with pytest.raises(OperationalError):
        cache.lookup("unknown", store_down)
    epochs.down = False
    epochs.value = 1  # a change made while it was away applies as soon as the epoch is read again
    cache.poll()
    assert cache.get("known") == (False, None)
    cache.stop()


def test_poll_interval_must_be_below_the_freshness_bound() -> None:
    with pytest.raises(ValueError, match="poll_s=2"):
        AuthCache("sqlite://", poll_s=2, fresh_s=1)
