"""A PostgreSQL cluster of a test's own, in a temp directory, that the test may stop and start.

Faults like "the store went away" need a server the test can stop; the machine's
PostgreSQL (127.0.0.1:5432) is shared and must never be stopped. So this runs
``initdb`` into a fresh directory and ``pg_ctl`` on a free loopback port with its
socket in that directory: nothing outside the directory is touched, and leaving the
block stops the cluster and deletes the directory.

PostgreSQL refuses to run as root; as root the binaries run as the ``postgres``
user (``runuser``) on a directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from helpers.live_server import LOOPBACK, free_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (or no user to run them as root)."""


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: the newest /usr/lib/postgresql/*/bin, else PATH."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb).parent
    raise PostgresUnavailable("no initdb/pg_ctl in /usr/lib/postgresql/*/bin or on PATH")


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _run_as() -> str | None:
    """The user to run the server binaries as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root and there is no 'postgres' user to run initdb as"
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root and there is no runuser to run initdb as 'postgres'")
    return "postgres"


@dataclass
class PrivateCluster:
    """A running cluster: ``url(db)`` for SQLAlchemy, ``stop()``/``start()`` to take it away and back."""

    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@{self.address}/{database}"

    def _pg(self, args: Sequence[str], *, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections (``pg_ctl -w``)."""
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses={LOOPBACK} -c fsync=off"
        log = self.data_dir / "server.log"
        self._pg(["pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(log), "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every session at once (what an operator's restart does)."""
        self._pg(["pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its SQLAlchemy URL."""
        import psycopg2

        conn = psycopg2.connect(host=LOOPBACK, port=self.port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)


@contextmanager
def private_postgres() -> Iterator[PrivateCluster]:
    """A fresh cluster on a free loopback port, trust auth for ``postgres``; stopped and deleted after.

    Raises :class:`PostgresUnavailable` when the binaries are absent (a test skips on it).
    """
    bin_dir = find_bin_dir()
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))  # short: the socket path must fit 107 bytes
    data_dir = root / "data"
    data_dir.mkdir()
    if user is not None:
        shutil.chown(root, user)
        shutil.chown(data_dir, user)
    cluster = PrivateCluster(bin_dir=bin_dir, data_dir=data_dir, port=free_port(), user=user)
    try:
        cluster._pg(
            ["initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
