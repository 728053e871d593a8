"""A worker's cache of verified tokens and deployment roles, kept honest by the auth epoch.

Why: looking the token and the caller's role up in the store on every prediction
costs two store round trips per request, most of a single-row prediction's time.
Caching them with a time-to-live would make a revocation wait for the TTL; instead
every token revocation and role change moves one counter in the store (the auth
epoch, :mod:`airflow_mlops.store.auth_epoch`), and a thread in each worker reads
that counter every ``poll_s`` (0.25 s by default). An entry is trusted only while

* it was cached under the epoch the worker last read, and
* that read *started* less than ``fresh_s`` (1 s) ago.

So a change committed at time *t* is in force in every worker of every server by
*t* + ``fresh_s``: a read that started after *t* sees the new epoch (which drops
every entry), and without such a read the entries are not fresh and the request
goes to the store. The bound holds however loaded the worker is, because it does
not depend on the poller keeping time.

While the store cannot be reached, a worker keeps trusting what it cached (under
the last epoch it read) and asks the store for nothing else: predictions by known
callers go on being answered, and a revocation cannot be recorded meanwhile
anyway. Unknown tokens are never cached, so a wrong token always costs a lookup.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy.exc import DBAPIError

from airflow_mlops.store import read_auth_epoch

logger = logging.getLogger(__name__)

#: How often each worker reads the auth epoch (seconds).
POLL_S = 0.25
#: A change to tokens or roles is in force in every worker within this many seconds (the stated bound).
FRESH_S = 1.0


class AuthCache:
    """Verified principals and roles by key, trusted while the auth epoch is known not to have moved.

    Thread-safe. ``get`` never touches the store (the request path's fast case);
    ``lookup`` asks the store through ``compute`` and caches the answer under the
    epoch read *before* asking, so an answer racing a change is dropped with it.
    """

    def __init__(
        self,
        store_url: str,
        *,
        poll_s: float = POLL_S,
        fresh_s: float = FRESH_S,
        max_entries: int = 10_000,
        read_epoch: Callable[[str], int] = read_auth_epoch,
    ) -> None:
        if not 0 < poll_s < fresh_s:
            raise ValueError(f"poll_s={poll_s!r} must be > 0 and below fresh_s={fresh_s!r}")
        self._store_url = store_url
        self._poll_s = poll_s
        self._fresh_s = fresh_s
        self._max = max_entries
        self._read_epoch = read_epoch
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[int, Any]] = {}
        self._epoch: int | None = None
        self._confirmed_at = float("-inf")  # monotonic start of the last successful epoch read
        self._store_unreachable = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the poller --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the epoch poller (idempotent; ``lookup`` starts it too, e.g. in a forked worker).

        After :meth:`stop` it stays stopped: lookups then read the epoch themselves.
        """
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="auth-epoch-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def poll(self) -> int:
        """Read the epoch once; a moved epoch drops every entry. Raises what the store raised."""
        started = time.monotonic()
        try:
            epoch = self._read_epoch(self._store_url)
        except DBAPIError:
            with self._lock:
                self._store_unreachable = True
            raise
        with self._lock:
            if epoch != self._epoch:
                self._entries.clear()
                self._epoch = epoch
            self._confirmed_at = max(self._confirmed_at, started)
            self._store_unreachable = False
        return epoch

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.poll()
                if failing:
                    logger.warning("auth cache: the store answers again; cached tokens and roles rechecked")
                failing = False
            except Exception as exc:
                if not failing:  # once per outage, not four times a second
                    logger.warning("auth cache: cannot read the auth epoch (%s); keeping what is cached", exc)
                failing = True
            self._stop.wait(self._poll_s)

    # ---- entries -----------------------------------------------------------------------------
    def get(self, key: Hashable) -> tuple[bool, Any]:
        """``(True, value)`` when ``key`` is cached and may be trusted now, else ``(False, None)``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != self._epoch:
                return False, None
            fresh = time.monotonic() - self._confirmed_at <= self._fresh_s
            if fresh or self._store_unreachable:
                return True, entry[1]
            return False, None

    def lookup(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` (a store lookup), cached under the epoch read before it.

        Where the store cannot be reached and ``key`` was cached under the current
        epoch, the cached value answers (see the module docstring); otherwise the
        store's error is raised.
        """
        self.start()
        try:
            tag = self.poll() if self._stale() else self._epoch
        except DBAPIError as exc:
            return self._cached_or_raise(key, exc)
        try:
            value = compute()
        except DBAPIError as exc:
            return self._cached_or_raise(key, exc)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            if tag is not None and tag == self._epoch:
                self._entries[key] = (tag, value)
        return value

    def _stale(self) -> bool:
        with self._lock:
            return self._epoch is None or time.monotonic() - self._confirmed_at > self._fresh_s

    def _cached_or_raise(self, key: Hashable, error: DBAPIError) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == self._epoch:
                return entry[1]
        raise error
