"""Who runs a project's sweep: a registry of runners, chosen by name (``MLOPS_PROJECT_RUNNER``).

Setting a project's target must answer at once, so the sweep runs elsewhere.
``local`` (the default, and what ``airflow-mlops serve`` uses) starts
``python -m airflow_mlops.services.project_sweep <id>`` as a child process in
its own session, with the server's settings in its environment and its output
in ``$MLOPS_HOME/projects/<id>/sweep.log``; a thread of the server only waits
for it to exit, so a crashed worker still marks its project failed. Other
runners (a run of the training DAG inside Airflow) register themselves with
:func:`register_runner` from the layer that may import them; this module
imports no Airflow.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

from airflow_mlops.config import Settings
from airflow_mlops.services.projects import (
    Project,
    ProjectInputError,
    ProjectRunner,
    get_project,
    project_dir,
    update_project,
)

__all__ = [
    "RUNNER_ENV",
    "LocalProcessRunner",
    "ProjectRunner",
    "get_runner",
    "register_runner",
    "settings_env",
]

RUNNER_ENV = "MLOPS_PROJECT_RUNNER"
#: A project whose sweep has not recorded an outcome yet.
ACTIVE = ("queued", "running")
LOG_FILE = "sweep.log"


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``get_settings()`` in a child process equal ``settings``."""
    env = {
        "MLOPS_HOME": str(settings.home),
        "MLOPS_STORE_URL": settings.store_url,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.mlflow_registry_uri,
        "MLOPS_SNAPSHOTS_DIR": str(settings.snapshots_dir),
        "MLOPS_PREDICTION_LOG_DIR": str(settings.prediction_log_dir),
    }
    if settings.mlflow_artifact_root:
        env["MLOPS_ARTIFACT_ROOT"] = settings.mlflow_artifact_root
    return env


class LocalProcessRunner:
    """The sweep in a child process of this server (no Airflow needed)."""

    name = "local"

    def start(self, project: Project, settings: Settings) -> str:
        log_path = project_dir(settings, project.id) / LOG_FILE
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow_mlops.services.project_sweep", project.id],
                env={**os.environ, **settings_env(settings)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        threading.Thread(
            target=_reap,
            args=(process, project.id, settings, log_path),
            name=f"sweep-{project.id}",
            daemon=True,
        ).start()
        return f"pid {process.pid}"


def _reap(process: subprocess.Popen[bytes], project_id: str, settings: Settings, log_path: object) -> None:
    """Wait for the worker; if it died before recording an outcome, record one for it."""
    code = process.wait()
    try:
        project = get_project(project_id, settings=settings)
    except LookupError:
        return
    if project.status in ACTIVE:
        update_project(
            project_id,
            settings=settings,
            only_if=ACTIVE,
            status="failed",
            error=f"the sweep process exited with code {code} before finishing; see {log_path}",
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reconcile(project: Project, settings: Settings) -> Project:
    """A local worker that is gone without an outcome (killed while this server was down) fails its project.

    The watcher thread of :class:`LocalProcessRunner` covers a worker that dies while the
    server runs; this covers the rest, when the project is read. Workers of other runners
    and on other hosts are left to their runner.
    """
    if project.status not in ACTIVE or project.runner != LocalProcessRunner.name or not project.worker:
        return project
    parts = project.worker.split()  # "pid N" (the runner's), then "pid N on HOST" (the worker's)
    if len(parts) < 2 or not parts[1].isdigit():
        return project
    if len(parts) >= 4 and parts[3] != socket.gethostname():
        return project
    if _alive(int(parts[1])):
        return project
    return update_project(
        project.id,
        settings=settings,
        only_if=ACTIVE,
        status="failed",
        error=f"the sweep process ({project.worker}) is gone without recording an outcome",
    )


_RUNNERS: dict[str, ProjectRunner] = {"local": LocalProcessRunner()}


def register_runner(runner: ProjectRunner, *, replace: bool = False) -> None:
    """Make ``runner`` choosable by its name (``MLOPS_PROJECT_RUNNER`` or the ``runner`` argument)."""
    if runner.name in _RUNNERS and not replace:
        raise ValueError(f"a project runner named {runner.name!r} is already registered")
    _RUNNERS[runner.name] = runner


def get_runner(name: str | None = None, *, default: str = "local") -> ProjectRunner:
    """``name``, else ``MLOPS_PROJECT_RUNNER``, else ``default``; an unknown name lists the known ones.

    The default is the app's (``create_app(project_runner=…)``: ``airflow`` in the plugin), not a
    process-wide setting, so importing the plugin changes nothing for other apps in the process.
    """
    chosen = name or os.environ.get(RUNNER_ENV, "").strip() or default
    try:
        return _RUNNERS[chosen]
    except KeyError:
        raise ProjectInputError(
            f"{RUNNER_ENV}: no project runner named {chosen!r}; expected one of {', '.join(map(repr, _RUNNERS))}"
        ) from None
