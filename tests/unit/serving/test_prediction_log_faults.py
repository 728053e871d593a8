"""A real `airflow-mlops serve` process under load while its prediction-log directory fails.

Two real faults, caused with the kernel rather than a patched function: a small
loop-mounted ext4 filesystem filled to the last block (``ENOSPC``), and a log tree
made immutable with ``chattr +i`` (``EPERM``, even for root). Either way no prediction
answered 200 may be lost: the server keeps the rows in memory up to
``MLOPS_PREDICTION_LOG_MAX_PENDING_ROWS``, then refuses new predictions with 503 and
``Retry-After``; once the directory is writable again the rows are written and
predictions are accepted again, without a restart.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from helpers.live_server import free_port, serve_process

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.prediction_log import list_log_files, read_log_files
from airflow_mlops.security import create_token

if TYPE_CHECKING:
    from conftest import RegisteredModels

ROWS_PER_REQUEST = 5
SENDERS = 4
MAX_PENDING = 300


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB ext4 filesystem on a loop device (no blocks reserved for root), mounted under tmp_path."""
    if shutil.which("mkfs.ext4") is None or shutil.which("mount") is None:
        pytest.skip("mkfs.ext4 or mount is not installed: no small filesystem to fill")
    image, mountpoint = tmp_path / "log.img", tmp_path / "log-fs"
    with image.open("wb") as f:
        f.truncate(4 * 1024 * 1024)
    made = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
    assert made.returncode == 0, made.stderr
    mountpoint.mkdir()
    mounted = _run("mount", "-o", "loop", str(image), str(mountpoint))
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot loop-mount a filesystem here (needs root and loop devices): {mounted.stderr.strip()}"
        )
    try:
        yield mountpoint
    finally:
        if _run("umount", str(mountpoint)).returncode != 0:
            _run("umount", "-l", str(mountpoint))


def _fill(root: Path) -> Callable[[], None]:
    """Fill the filesystem under ``root`` to its last block; returns what frees it again."""
    filler = root / "filler"
    with filler.open("wb", buffering=0) as f:
        # ext4 reserves blocks for delayed allocation while writes are pending and gives back
        # what it did not need at fsync: fill again until a round after an fsync adds nothing.
        while True:
            added = 0
            for size in (65536, 4096, 512):
                with contextlib.suppress(OSError):
                    while True:
                        added += f.write(b"\0" * size)
            os.fsync(f.fileno())
            if added == 0:
                break
    # Empty files still fit (an inode, no block): the log's markers may be created, its data may not.
    probe = root / "probe"
    with pytest.raises(OSError) as full:
        probe.write_bytes(b"x" * 8192)
        os.sync()
    probe.unlink(missing_ok=True)
    assert full.value.errno == errno.ENOSPC, full.value
    return lambda: filler.unlink()


def _make_immutable(root: Path) -> Callable[[], None]:
    """``chattr -R +i`` the log tree: nothing in it may be created, renamed or removed, even by root."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: cannot make the log directory immutable")
    made = _run("chattr", "-R", "+i", str(root))
    if made.returncode != 0:
        pytest.skip(f"this filesystem has no immutable attribute (chattr +i): {made.stderr.strip()}")
    with pytest.raises(PermissionError):
        (root / "probe").touch()
    return lambda: _clear_immutable(root)


def _clear_immutable(root: Path) -> None:
    cleared = _run("chattr", "-R", "-i", str(root))
    assert cleared.returncode == 0, cleared.stderr


def test_no_answered_prediction_is_lost_while_the_log_cannot_be_written(
    models: RegisteredModels, small_filesystem: Path
) -> None:
    """One server, steady load, two outages in turn: the disk full, then the log tree immutable."""
    log_dir = small_filesystem / "predictions"
    log_dir.mkdir()
    settings = get_settings()
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "log-faults")
    _info, token = create_token(settings.store_url, user="tester", is_admin=True)
    body = (
        make_churn(ROWS_PER_REQUEST, seed=3).drop(columns=["churned", "event_time"]).to_json(orient="records")
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    path = f"/predApi/v1.0/deployments/{deployment.id}/predictions"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLOPS_PREDICTION_LOG_DIR"] = str(log_dir)
    env["MLOPS_PREDICTION_LOG_MAX_PENDING_ROWS"] = str(MAX_PENDING)

    def logged() -> int:
        return len(read_log_files(list_log_files(log_dir, deployment.id)))

    answered = [0]  # rows answered 200
    refusals: list[httpx.Response] = []
    others: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not stop.is_set():
                r = client.post(path, content=body, headers=headers)
                with lock:
                    if r.status_code == 200 and len(r.json()["data"]) == ROWS_PER_REQUEST:
                        answered[0] += ROWS_PER_REQUEST
                    elif r.status_code == 503:
                        refusals.append(r)
                    else:
                        others.append(f"{r.status_code} {r.text[:300]}")
                if r.status_code == 503:
                    time.sleep(0.05)

    def wait_for(what: str, done: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
            time.sleep(0.1)

    def health() -> dict[str, Any]:
        return dict(httpx.get(f"{base}/health", timeout=10).json())

    command = [sys.executable, "-m", "airflow_mlops.cli", "serve", "--port", str(port)]
    senders = [threading.Thread(target=send) for _ in range(SENDERS)]
    with serve_process(command, ready_url=f"{base}/health", env=env, timeout=120):
        first = httpx.post(base + path, content=body, headers=headers, timeout=60)
        assert first.status_code == 200, first.text
        answered[0] += ROWS_PER_REQUEST
        wait_for("the first prediction written", lambda: logged() == ROWS_PER_REQUEST)
        try:
            for t in senders:
                t.start()
            for fault, expected_error in (
                ("full", "No space left on device"),
                ("immutable", "Operation not permitted"),
            ):
                wait_for(f"load before the {fault} fault", lambda: answered[0] >= 100)
                with lock:
                    refusals.clear()
                recover = _fill(small_filesystem) if fault == "full" else _make_immutable(log_dir)
                wait_for(f"predictions refused ({fault})", lambda: len(refusals) >= 3)
                written = logged()
                refused = refusals[0]
                message = refused.json()["message"]
                assert message.startswith("prediction log unavailable: "), message
                assert f"rows waiting to be written to {log_dir}: " in message
                assert expected_error in message
                assert int(refused.headers["Retry-After"]) >= 1
                waiting = int(message.removeprefix("prediction log unavailable: ").split()[0])
                assert waiting >= MAX_PENDING

                time.sleep(1.5)  # more refusals, more failed retries
                backlog = health()["predictionLog"]
                assert backlog["maxPendingRows"] == MAX_PENDING
                assert expected_error in backlog["lastError"]
                # Refused requests add nothing; those already past the check when it began may.
                assert waiting <= backlog["pendingRows"] <= waiting + SENDERS * ROWS_PER_REQUEST
                assert logged() == written, f"nothing can be written while the disk is {fault}"

                recover()
                wait_for(
                    f"the backlog written after the {fault} fault", lambda: "predictionLog" not in health()
                )
                with lock:
                    accepted_at = answered[0]
                wait_for(
                    f"predictions accepted again after the {fault} fault",
                    lambda at=accepted_at: answered[0] >= at + 20 * ROWS_PER_REQUEST,
                )
        finally:
            stop.set()
            for t in senders:
                t.join(30)
            _clear_immutable(log_dir)  # lets the fixture unmount after a failure
        # Written by the running server, not at its shutdown: no restart was needed.
        wait_for("every answered row in the log", lambda: logged() >= answered[0])
        assert logged() == answered[0]
        assert health() == {"status": "ok"}
    assert others == []
    assert logged() == answered[0]
