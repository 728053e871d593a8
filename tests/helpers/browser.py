"""A real browser against a real Airflow: Debian's Chromium driven by Playwright, and the server it visits.

Playwright's Python client is pinned in requirements.txt, but its own browser
downloads are never used: :func:`launch_chromium` starts the distribution's
``chromium`` (``apt-get install chromium chromium-driver``; ``make test`` installs
them when it runs as root), so the tests need no network and no binary that the
package manager does not track.

:func:`demo_airflow` is the server: a fresh ``MLOPS_HOME``, ``airflow-mlops init``,
``airflow-mlops demo`` (the four-day story: drift and accuracy replacements, a
refresh whose challenger lost), one retraining request put in the
``awaiting_approval`` state, then ``airflow-mlops up`` on a free loopback port with
three Airflow users. Everything after that happens through HTTP, as a person at
the browser would see it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from helpers.live_server import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("airflow-mlops"))

#: Headless, no sandbox (containers run as root), and nothing that phones home.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: Airflow's SimpleAuthManager users: name -> Airflow role. ``consumer`` gets the MLOps
#: CONSUMER role on the demo deployment, ``reader`` the USER role; neither is an Airflow admin.
AIRFLOW_USERS = {"admin": "admin", "consumer": "viewer", "reader": "viewer"}
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


def chromium_path() -> str | None:
    """The distribution's Chromium, or None where it is not installed."""
    return shutil.which("chromium")


def launch_chromium(playwright: Playwright) -> Browser:
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium chromium-driver)")
    return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))


def output_dir() -> Path:
    """Where screenshots go: ``$MLOPS_TEST_OUTPUT/screenshots`` or ``tests/output/screenshots`` (git-ignored)."""
    root = (
        Path(os.environ["MLOPS_TEST_OUTPUT"])
        if os.environ.get("MLOPS_TEST_OUTPUT")
        else REPO / "tests" / "output"
    )
    path = root / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(page: Page, name: str) -> Path:
    path = output_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def is_login_page(url: str) -> bool:
    """SimpleAuthManager's login form lives at ``/auth/login`` (``?next=`` the page asked for)."""
    return httpx.URL(url).path.rstrip("/").endswith("/auth/login")


def log_in(page: Page, base_url: str, username: str, password: str, *, start: str = "/") -> None:
    """Open ``start`` without a session, land on Airflow's login page, fill it in, submit it.

    Returns once the browser has left the login page with the ``_token`` cookie set.
    """
    page.goto(base_url + start)
    page.wait_for_url(lambda url: is_login_page(url), timeout=60_000)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not is_login_page(url), timeout=60_000)
    cookies = {c["name"] for c in page.context.cookies(base_url)}
    if "_token" not in cookies:
        raise AssertionError(f"logged in as {username} but no _token cookie: {sorted(cookies)}")


@dataclass(frozen=True)
class DemoAirflow:
    """The running server and what the story left behind."""

    url: str
    home: Path
    passwords: dict[str, str]
    deployment_id: str
    awaiting_request_id: str
    challenger_model_id: str


def _environment(home: Path) -> dict[str, str]:
    """A user's shell: none of the test session's Airflow/MLflow/MLOps settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW_", "MLOPS_"))}
    env["MLOPS_HOME"] = str(home)
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:{r}" for u, r in AIRFLOW_USERS.items())
    return env


def _run(args: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def await_approval(home: Path) -> tuple[str, str, str]:
    """Leave one retraining request ``awaiting_approval``, as ``mlops_retrain`` does under an approval policy.

    The challenger is the one the story's weekly refresh trained and judged (a
    registered model with real scores and snapshot): the request records that run's
    judgement with the status a policy with ``replacement: approval`` gives, through
    the same retraining-request functions the DAG calls. Training yet another model
    here would cost minutes and could lose to the champion, leaving nothing to approve.
    Returns (deployment id, request id, challenger model id).
    """
    from airflow_mlops.deployments import Deployment
    from airflow_mlops.retraining import list_requests, mark_running, record_outcome, request_retraining
    from airflow_mlops.store import dispose_engines

    url = f"sqlite:///{home / 'mlops.db'}"
    try:
        (deployment,) = Deployment.list(store_url=url)
        refresh = next(
            r for r in list_requests(deployment.id, store_url=url) if r.reason == "SCHEDULED_REFRESH"
        )
        assert refresh.challenger_model_id and refresh.challenger_model_id != deployment.model["id"], refresh
        # The refresh's reason: the story's policy leaves OTHER to a person and would suppress it.
        request = request_retraining(
            deployment.id,
            "SCHEDULED_REFRESH",
            evidence={"note": "browser test: a challenger waiting for a person"},
            origin="user",
            actor="admin",
            store_url=url,
        )
        mark_running(request.id, dag_run_id=refresh.dag_run_id or "browser-test", store_url=url)
        record_outcome(
            request.id,
            status="awaiting_approval",
            message=f"awaiting approval: {refresh.message}",
            champion_model_id=deployment.model["id"],
            challenger_model_id=refresh.challenger_model_id,
            scores=refresh.scores,
            details={k: v for k, v in refresh.details.items() if k in ("snapshot", "validation")},
            store_url=url,
        )
        return deployment.id, request.id, refresh.challenger_model_id
    finally:
        dispose_engines()


@contextmanager
def demo_airflow(home: Path, *, rows: int = 2000, trials: int = 4) -> Iterator[DemoAirflow]:
    """``init`` → ``demo`` → an approval waiting → ``up``; yields once the API server answers and is stopped after."""
    env = _environment(home)
    _run([CLI, "init"], env, timeout=600)
    _run([CLI, "demo", "--rows", str(rows), "--trials", str(trials)], env, timeout=1800)
    deployment_id, request_id, challenger = await_approval(home)
    port = free_port()
    proc = subprocess.Popen(
        [CLI, "up", "--port", str(port)],
        env=env,
        cwd=REPO,  # the DAGs folder is the checkout's dags/
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 600
        while not (lines and lines[-1].startswith("password: ")):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError("airflow-mlops up exited:\n" + "".join(lines))
            if time.monotonic() > deadline:
                raise RuntimeError("airflow-mlops up printed no password within 600 s:\n" + "".join(lines))
            lines.append(line)
        passwords = json.loads((home / "airflow" / PASSWORDS_FILE).read_text())
        yield DemoAirflow(
            url=f"http://127.0.0.1:{port}",
            home=home,
            passwords={u: str(passwords[u]) for u in AIRFLOW_USERS},
            deployment_id=deployment_id,
            awaiting_request_id=request_id,
            challenger_model_id=challenger,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def share(server: DemoAirflow, roles: dict[str, str]) -> None:
    """Give Airflow users MLOps roles on the demo deployment, as its owner does: ``PATCH …/sharedRoles/``."""
    token = httpx.post(
        f"{server.url}/auth/token",
        json={"username": "admin", "password": server.passwords["admin"]},
        timeout=30,
    )
    token.raise_for_status()
    answer = httpx.patch(
        f"{server.url}/mlops/api/v2/deployments/{server.deployment_id}/sharedRoles/",
        json={"roles": [{"username": u, "role": r} for u, r in roles.items()]},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=30,
    )
    if answer.status_code != 204:
        raise AssertionError(f"sharing failed: {answer.status_code} {answer.text}")


def api_json(page: Page, path: str, **params: Any) -> Any:
    """GET the mounted MLOps API with the page's own session (its ``_token`` cookie)."""
    answer = page.context.request.get(f"{path}", params=params or None)
    if not answer.ok:
        raise AssertionError(f"GET {path} -> {answer.status}: {answer.text()[:500]}")
    return answer.json()
