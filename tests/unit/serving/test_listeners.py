"""Each worker of ``serve --workers N`` listens on a socket of its own (``SO_REUSEPORT``).

The server test starts the real CLI with two workers and reads, from ``/proc``, which
listening socket each worker holds: two distinct sockets on the one port, and fresh
connections opened together land on both workers (with uvicorn's one shared socket, the
first worker awake took 15 of 16 in most runs). The in-process tests cover what a spawned
worker receives for the parent's socket, and the refusal of a port already in use.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import psutil
import pytest
from helpers.live_server import free_port, serve_process

from airflow_mlops.serving.listeners import reuse_port_supported, worker_sockets

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux-only")

FRESH_CONNECTIONS = 32


def _listening_inodes(pid: int, port: int) -> set[str]:
    """The kernel identities (``socket:[inode]``) of the sockets ``pid`` listens on at ``port``."""
    found = set()
    for conn in psutil.Process(pid).net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
            found.add(os.readlink(f"/proc/{pid}/fd/{conn.fd}"))
    return found


def _established(pid: int, port: int) -> int:
    return sum(
        1
        for conn in psutil.Process(pid).net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == port
    )


def test_each_worker_listens_on_its_own_socket_and_connections_reach_both() -> None:
    port = free_port()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "airflow_mlops.cli", "serve", "--port", str(port), "--workers", "2"]
    with serve_process(command, ready_url=f"http://127.0.0.1:{port}/health", env=env, timeout=120) as proc:
        # Ready means one worker answered; the other may still be starting.
        deadline = time.monotonic() + 120
        while True:
            children = psutil.Process(proc.pid).children()
            workers = [child.pid for child in children if _listening_inodes(child.pid, port)]
            if len(workers) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(workers) == 2, f"expected 2 listening workers, found {workers}"
        inodes = [_listening_inodes(pid, port) for pid in workers]
        assert all(len(held) == 1 for held in inodes), inodes
        assert inodes[0] != inodes[1], (
            "the workers share one socket: the first one awake takes the connections"
        )
        assert not _listening_inodes(proc.pid, port), (
            "the parent's socket must not listen (it would get connections)"
        )

        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(FRESH_CONNECTIONS)]
        try:
            for client in clients:  # one request each, answered, so every connection was accepted
                client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                # 200, or 503 from a worker still loading the deployments' models: either way, answered.
                assert client.recv(64).startswith((b"HTTP/1.1 200", b"HTTP/1.1 503"))
            held = [_established(pid, port) for pid in workers]
        finally:
            for client in clients:
                client.close()
        assert sum(held) == FRESH_CONNECTIONS
        assert min(held) >= 1, f"{FRESH_CONNECTIONS} connections split {held}: one worker got none"


def test_a_spawned_worker_receives_a_listening_socket_of_its_own() -> None:
    (parent,) = worker_sockets("127.0.0.1", 0)
    try:
        port = parent.getsockname()[1]
        child = ForkingPickler.loads(bytes(ForkingPickler.dumps(parent)))
        try:
            assert child.fileno() != parent.fileno()
            assert child.getsockname() == ("127.0.0.1", port)
            assert child.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert parent.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0
            assert child.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                accepted, _address = child.accept()
                accepted.close()
        finally:
            child.close()
    finally:
        parent.close()


def test_a_port_something_answers_on_is_refused_naming_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}: something already answers there"):
            worker_sockets("127.0.0.1", port)
        command = [sys.executable, "-m", "airflow_mlops.cli", "serve", "--port", str(port), "--workers", "2"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"error: cannot serve on 127.0.0.1:{port}" in done.stderr
