"""One listening socket per server worker (``SO_REUSEPORT``), so connections spread over the workers.

Why: uvicorn's ``--workers N`` binds one socket in its parent process and every
worker accepts from it. asyncio accepts every pending connection a readiness event
reports (``BaseSelectorEventLoop._accept_connection`` loops up to the backlog), so
when a client opens its keep-alive connections together, the first worker awake
takes nearly all of them and the others idle: with 16 connections from wrk on 2
workers, 4 runs of 5 split 15/1 (``ss -tnp``), and the server then did about 70 % of
what it did with the connections split evenly. With ``SO_REUSEPORT`` each worker
listens on a socket of its own bound to the same address, and the kernel hashes each
new connection to one of them, so the split is even on average. nginx (``reuse_port``)
and gunicorn (``--reuse-port``) offer the same; uvicorn does not.

How it fits uvicorn's supervisor, which is kept (it restarts dead and hung workers):
the supervisor pickles the sockets it hands each spawned worker. A
:class:`ReusePortSocket` pickles as its address, not as its file descriptor, so each
worker (a restarted one too) unpickles a socket of its own, bound with
``SO_REUSEPORT``, and uvicorn listens on it like on any socket it is given. The
parent's socket is bound, so a port another program holds fails at once with the
bind error, but never listens: the kernel gives connections to listening sockets only.

What it costs: connections waiting in a worker's queue when that worker dies are
reset instead of going to another worker; and two servers of one user could share a
port this way without an error, so :func:`worker_sockets` first refuses a port that
something already answers on.
"""

from __future__ import annotations

import functools
import socket
import sys
from typing import Any

__all__ = ["ReusePortSocket", "reuse_port_supported", "worker_sockets"]


def reuse_port_supported() -> bool:
    """Whether this platform has ``SO_REUSEPORT`` with load balancing (Linux); elsewhere uvicorn's own socket."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class ReusePortSocket(socket.socket):
    """A TCP socket bound with ``SO_REUSEPORT`` that a spawned process receives as a new one (see module)."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # multiprocessing's pickler looks reducers up by exact type, so socket.socket's (which
        # sends the descriptor) is not used for this subclass: this is. The worker rebuilds it
        # with the standard library alone (a listening socket, SO_REUSEPORT set before bind):
        # importing this package there would take longer than uvicorn's 5 s health check.
        make = functools.partial(socket.create_server, family=self.family, reuse_port=True)
        return (make, (self.getsockname()[:2],))


def _bound(family: int, address: tuple[str, int]) -> ReusePortSocket:
    """The parent's socket: bound with ``SO_REUSEPORT`` (so the workers may bind too), not listening."""
    sock = ReusePortSocket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _answers(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port`` (a wildcard host is asked on loopback)."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((target, port), timeout=1.0):
            return True
    except OSError:
        return False


def worker_sockets(host: str, port: int) -> list[socket.socket]:
    """The sockets to hand uvicorn's supervisor: one that each worker receives as its own listener.

    Raises ``OSError`` naming the address when the port is taken (by a listener of any
    kind) or cannot be bound.
    """
    if _answers(host, port):
        raise OSError(f"cannot serve on {host}:{port}: something already answers there (another server?)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return [_bound(family, (host, port))]
    except OSError as exc:
        raise OSError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from exc
