"""Live servers on loopback for tests and benchmarks: started, waited on until ready, stopped cleanly.

Tests that speak real HTTP start the app either in this process (uvicorn in a thread:
:func:`serve_app`) or as a separate process (``airflow-mlops serve``, ``airflow
api-server``, ``mlflow models serve``: :func:`serve_process`). Either way "ready" means
the readiness URL answered 200 (the app's ``/health`` is 503 while it loads its
deployments' models), a server that dies while starting fails at once with what it
printed, and leaving the block stops it. One copy of this, so that every test (and the
serving benchmark) has the same idea of ready and leaves no server behind.

Written here rather than taken from a library: pytest plugins that run a server
(pytest-xprocess, pytest-httpserver) either serve canned answers or want a process
definition class per server; these few lines on uvicorn's own ``Server`` are simpler.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

LOOPBACK = "127.0.0.1"


class ServerDidNotStart(RuntimeError):
    """The server exited, or did not answer its readiness URL with 200 in time."""


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until_ready(
    url: str, *, exited: Callable[[], str | None], timeout: float, interval: float = 0.05
) -> None:
    """Poll ``url`` until it answers 200.

    ``exited`` says why the server is gone (its output's tail), or ``None`` while it runs:
    a server that dies while starting fails at once rather than after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=max(interval, 1.0)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        reason = exited()
        if reason is not None:
            raise ServerDidNotStart(f"the server exited before {url} answered: {reason}")
        if time.monotonic() >= deadline:
            raise ServerDidNotStart(f"{url} did not answer 200 within {timeout:g} s")
        time.sleep(interval)


@contextmanager
def serve_app(app: Callable[..., Any], *, ready_path: str = "/health", timeout: float = 20) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread of this process; yields its base URL once ready.

    In-process, so a test can reach the app's objects and the store it writes; on exit
    uvicorn shuts down gracefully (the app's lifespan ends, e.g. the prediction log is
    flushed) and the thread must have ended within ``timeout``.
    """
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"test-uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until_ready(
            url + ready_path,
            exited=lambda: None if thread.is_alive() else "uvicorn's thread ended (see the log above)",
            timeout=timeout,
        )
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"uvicorn on port {port} did not shut down within {timeout:g} s")


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` (a no-op if it has exited)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _drain(proc: subprocess.Popen[bytes], tail: deque[bytes], every: list[bytes] | None) -> None:
    """Keep the last lines of the server's stderr: read all along, so that a chatty server
    never blocks on a full pipe, and kept to say why it died (and every line, if asked)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        tail.append(line)
        if every is not None:
            every.append(line)


@contextmanager
def serve_process(
    command: Sequence[str],
    *,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    interval: float = 0.1,
    stderr_lines: list[bytes] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` (a server bound to loopback); yields the process once ``ready_url`` answers 200.

    The tail of its stderr says why it died during start-up (stdout is dropped); a test that
    judges what the server logged passes ``stderr_lines``, which receives every line. On exit it is
    stopped with :func:`stop_process`, unless the block already ended it (a test may signal
    it itself).
    """
    proc = subprocess.Popen(
        list(command),
        env=None if env is None else dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tail: deque[bytes] = deque(maxlen=100)
    drainer = threading.Thread(
        target=_drain, args=(proc, tail, stderr_lines), name=f"stderr-{proc.pid}", daemon=True
    )
    drainer.start()

    def exited() -> str | None:
        if proc.poll() is None:
            return None
        drainer.join(5)  # the pipe closes with the process: what it printed last is in
        return f"exit code {proc.returncode}: {b''.join(tail).decode(errors='replace')[-3000:]}"

    try:
        wait_until_ready(ready_url, exited=exited, timeout=timeout, interval=interval)
        yield proc
    finally:
        stop_process(proc)
        drainer.join(5)
        if not drainer.is_alive() and proc.stderr is not None:
            proc.stderr.close()
