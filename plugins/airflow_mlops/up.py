"""``airflow-mlops up``: Airflow's components on this machine, quiet, ending with where to log in.

Why not ``airflow standalone`` as it is: it interleaves every component's output on
the terminal (thousands of lines, the admin password among the first), binds the API
server to every interface, and takes its worker count from Airflow's defaults. Here
the same four components (API server, scheduler, DAG processor, triggerer) run as
child processes whose output goes to one log file each; the terminal shows a few
lines and ends, once the API server answers, with the URL, the user and the password.
Ctrl-C (or SIGTERM) stops them all.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

import httpx

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


def component_environment(env: Mapping[str, str], *, host: str, port: int) -> dict[str, str]:
    """The environment every component shares: loopback API, LocalExecutor, one admin user.

    Values the user set win except the API address, which ``--host``/``--port`` decide.
    """
    out = dict(env)
    out["AIRFLOW__API__HOST"] = host
    out["AIRFLOW__API__PORT"] = str(port)
    # Workers of LocalExecutor reach the API server here (Airflow 3: tasks talk to it over HTTP).
    out.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://{_reach(host)}:{port}/execution/")
    out.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    out.setdefault("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE_AUTH_MANAGER)
    out.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    # skops walks every importable attribute when it loads a model, tripping thousands of
    # Airflow deprecation warnings per process: noise in the logs, not news for the user.
    out["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), "ignore:::skops.io._utils"]))
    return out


def _reach(host: str) -> str:
    """The address to call a server bound to ``host`` on (a wildcard bind is reached on loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def admin_password(airflow_home: Path) -> str | None:
    """The generated admin password, once the API server has written it (None before)."""
    path = airflow_home / PASSWORDS_FILE
    try:
        return str(json.loads(path.read_text())["admin"])
    except (OSError, ValueError, KeyError):
        return None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_up(
    env: Mapping[str, str],
    *,
    airflow_bin: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    ready_timeout_s: float = 600,
    say: Callable[[str], None] = print,
) -> int:
    """Start the components, wait until the API server answers, print how to log in, then wait."""
    environment = component_environment(env, host=host, port=port)
    airflow_home = Path(environment["AIRFLOW_HOME"])
    log_dir = airflow_home / "logs" / "up"
    log_dir.mkdir(parents=True, exist_ok=True)
    say(f"Starting Airflow's API server, scheduler, DAG processor and triggerer (logs: {log_dir}/)")
    children: dict[str, subprocess.Popen[bytes]] = {}
    for name in COMPONENTS:
        args = [airflow_bin, name, *(["--host", host, "--port", str(port)] if name == "api-server" else [])]
        with (log_dir / f"{name}.log").open("ab") as log:
            children[name] = subprocess.Popen(
                args, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(*_: object) -> None:
        # Each component leads its own process group (start_new_session): signalling the group
        # also stops what it started (LocalExecutor's workers, task processes), which would
        # otherwise outlive it as orphans.
        for child in children.values():
            if child.poll() is None:
                _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
            _signal_group(child.pid, signal.SIGKILL)  # whatever of its group is still there

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Handled explicitly: a shell starting us in the background would have us ignore SIGINT.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    url = f"http://{_reach(host)}:{port}"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            dead = [name for name, child in children.items() if child.poll() is not None]
            if dead:
                name = dead[0]
                say(f"{name} exited with code {children[name].returncode}; its log ends with:")
                say(_tail(log_dir / f"{name}.log"))
                return 1
            if _healthy(url) and admin_password(airflow_home) is not None:
                break
            if time.monotonic() > deadline:
                say(f"Airflow did not answer at {url} within {ready_timeout_s:.0f} s; see {log_dir}/")
                return 1
            time.sleep(1)
        users = environment["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
        say("")
        say(f"MLOps app: {url}/mlops/ (Deployments in the navigation); stop with Ctrl-C")
        say(f"Airflow is ready: {url}")
        say(f"user: {users.split(':', 1)[0].split(',')[0]}")
        say(f"password: {admin_password(airflow_home)}")
        while all(child.poll() is None for child in children.values()):
            time.sleep(1)
        dead = [name for name, child in children.items() if child.poll() is not None]
        say(f"{', '.join(dead)} stopped; stopping the others (logs: {log_dir}/)")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop()


def _signal_group(pid: int, signum: int) -> None:
    """Signal process group ``pid``; a group already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


__all__ = ["COMPONENTS", "admin_password", "component_environment", "run_up"]
