"""The worker of a project's sweep: ``python -m airflow_mlops.services.project_sweep <project_id>``.

Runs in its own process (started by a runner, :mod:`.project_runners`), never
in a request. It reads the project's snapshot, runs the sweep in three steps
so the parent run and the study are recorded before the first trial (the
leaderboard can be read live), records the snapshot as the parent run's
dataset input and the excluded columns as a tag (exactly what
``AutoMLSweepOperator`` records, so ``deployments/fromLearningModel/`` can
refit any of its trials), and leaves the project ``done`` or ``failed`` with
the error.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from datetime import UTC, datetime

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.services.projects import update_project

__all__ = ["PROJECT_TAG", "main", "run_project_sweep"]

log = logging.getLogger("airflow_mlops.projects")

#: The sweep's MLflow parent run names its project.
PROJECT_TAG = "airflow_mlops.project_id"


def run_project_sweep(project_id: str, settings: Settings) -> str:
    """Run the queued project's sweep here; returns the MLflow parent run id."""
    from mlflow import MlflowClient
    from mlflow.entities import RunStatus

    from airflow_mlops.automl import SweepConfig, default_storage, finish_sweep, prepare_sweep, run_worker
    from airflow_mlops.datasets import load_snapshot, log_snapshot_input
    from airflow_mlops.training import EXCLUDED_COLUMNS_TAG

    project = update_project(
        project_id,
        settings=settings,
        status="running",
        started_at=datetime.now(UTC),
        worker=f"pid {os.getpid()} on {socket.gethostname()}",
    )
    assert project.target and project.snapshot_version and project.mode
    snapshot = load_snapshot(settings.snapshots_dir, project.dataset, project.snapshot_version)
    exclude = list(project.sweep.get("exclude", []))
    frame = snapshot.train_frame().drop(columns=[c for c in exclude if c])
    config = SweepConfig(
        target=project.target,
        task=project.target_type,  # type: ignore[arg-type]
        metric=project.metric,
        mode=project.mode,
        n_trials=project.sweep.get("n_trials"),
        timeout_s=project.sweep.get("timeout_s"),
        study_name=project.study_name,
        storage=default_storage(settings.home),
        experiment_name=f"project-{project.id}",
        tracking_uri=settings.mlflow_tracking_uri,
    )
    handle = prepare_sweep(frame, config)
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    client.set_tag(handle.parent_run_id, PROJECT_TAG, project.id)
    update_project(project_id, settings=settings, parent_run_id=handle.parent_run_id)
    try:
        run_worker(frame, config, handle, progress=log.info)
        result = finish_sweep(frame, config, handle)
    except BaseException:
        client.set_terminated(handle.parent_run_id, status=RunStatus.to_string(RunStatus.FAILED))
        raise
    log_snapshot_input(snapshot, run_id=result.parent_run_id, tracking_uri=settings.mlflow_tracking_uri)
    client.set_tag(result.parent_run_id, EXCLUDED_COLUMNS_TAG, json.dumps(exclude))
    update_project(project_id, settings=settings, status="done", finished_at=datetime.now(UTC))
    return result.parent_run_id


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m airflow_mlops.services.project_sweep <project_id>", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        run_project_sweep(args[0], settings)
    except Exception as exc:
        log.exception("project %s: the sweep failed", args[0])
        update_project(
            args[0],
            settings=settings,
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            finished_at=datetime.now(UTC),
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
