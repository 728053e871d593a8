"""Telling "the store cannot be reached" apart from every other database error.

Why: while the store (PostgreSQL) is restarted, a server's requests fail with
connection errors; those deserve a 503 that says to retry, and the watcher threads
should say once that the store is away rather than log a traceback twice a second.
Other database errors (an integrity error, a deadlock, a cancelled statement) are
bugs or conflicts and must keep failing loudly, so the test is narrow:

* SQLAlchemy marked the connection invalidated (its dialect recognised a disconnect:
  "server closed the connection unexpectedly", "terminating connection due to
  administrator command", ...), or
* the driver's error carries no SQLSTATE (it happened in the client, before any
  server answered: "connection refused", a timeout, a name that does not resolve),
  or a connection-class one: ``08xxx``, or ``57P01``-``57P03`` (the server is
  shutting down or starting up).

Only drivers that report SQLSTATEs (psycopg2's ``pgcode``, psycopg's ``sqlstate``)
are judged by the second rule; SQLite's errors never are (a locked file is not an
outage).
"""

from __future__ import annotations

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

_CONNECTION_SQLSTATES = ("57P01", "57P02", "57P03")  # admin shutdown, crash shutdown, cannot connect now
_NO_CODE = object()


def store_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store could not be reached (see the module docstring)."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    code = getattr(orig, "pgcode", _NO_CODE)
    if code is _NO_CODE:
        code = getattr(orig, "sqlstate", _NO_CODE)
    if code is _NO_CODE:  # a driver without SQLSTATEs (SQLite): only an invalidated connection counts
        return False
    return code is None or str(code).startswith("08") or code in _CONNECTION_SQLSTATES


def describe_store(url: str) -> str:
    """``PostgreSQL at host:port/database`` (never the password, nor the user) for messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "the MLOps store"
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return f"SQLite file {parsed.database}"
    name = {"postgresql": "PostgreSQL", "mysql": "MySQL"}.get(backend, backend)
    where = parsed.host or "localhost"
    if parsed.port is not None:
        where = f"{where}:{parsed.port}"
    return f"{name} at {where}/{parsed.database or ''}"


def unreachable_reason(exc: BaseException) -> str:
    """The driver's own first line ("... failed: Connection refused"), without SQLAlchemy's SQL and parameters."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0].strip() if lines else type(orig).__name__


def unreachable_message(url: str, exc: BaseException) -> str:
    """What a caller is told while the store is away: which store, the driver's reason, and to retry."""
    return (
        f"the MLOps store ({describe_store(url)}) is unreachable: {unreachable_reason(exc)}. "
        "Predictions for deployments "
        "already loaded are still answered; retry this call in a few seconds"
    )
