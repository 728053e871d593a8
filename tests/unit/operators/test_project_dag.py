"""mlops_project: a project's sweep as an Airflow DAG run (the ``airflow`` project runner).

The project is created and aimed through the service (what the API does), with
a runner that only records the call; then the DAG runs through ``dag.test()``
and the project ends ``done`` with the same leaderboard the API reads. The
runner itself is checked to create a queued run of the DAG with the project's id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.services.projects import (
    Project,
    create_project,
    get_project,
    project_leaderboard,
    set_target,
)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, project: Project, settings: Settings) -> str:
        self.started.append(project.id)
        return "recorded"


@pytest.fixture
def home(airflow_db: Path, mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLOPS_PROJECT_SWEEP_TRIALS", "2")
    monkeypatch.setenv("MLOPS_PROJECT_SWEEP_TIMEOUT_S", "20")
    return mlops_home


def _queued(tmp_path: Path, runner: Any) -> Project:
    settings = get_settings()
    path = tmp_path / "churn.csv"
    make_churn(300, seed=4).drop(columns=["customer_id", "event_time"]).to_csv(path, index=False)
    with open(path, "rb") as upload:
        project = create_project(
            name="dag-project", owner="alice", settings=settings, upload=upload, file_name="churn.csv"
        )
    return set_target(project.id, target="churned", settings=settings, runner=runner)


def test_the_dag_runs_a_queued_projects_sweep(home: Path, tmp_path: Path) -> None:
    from airflow_mlops.dag_runs import run_dag, xcom_result

    recorder = Recorder()
    project = _queued(tmp_path, recorder)
    assert recorder.started == [project.id]
    assert (project.status, project.worker) == ("queued", "recorded")

    run = run_dag("mlops_project", conf={"project_id": project.id})

    settings = get_settings()
    done = get_project(project.id, settings=settings)
    assert done.status == "done", done.error
    assert done.worker and done.worker.startswith("pid ")
    board = project_leaderboard(done, settings)
    assert len(board) >= 1 and board["run_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert xcom_result(run, "sweep") == [{"project_id": project.id, "parent_run_id": done.parent_run_id}]

    # The runner the plugin registers: a queued run of the DAG (now in the metadata DB) for the project.
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from airflow_mlops.operators.projects import AirflowDagRunner

    second = _queued(tmp_path, AirflowDagRunner())
    assert second.runner == "airflow"
    assert second.worker and second.worker.startswith("Airflow DAG run mlops_project/project__")
    run_id = second.worker.split("/", 1)[1]
    with create_session() as session:
        queued = session.query(DagRun).filter(DagRun.dag_id == "mlops_project", DagRun.run_id == run_id).one()
        assert queued.conf == {"project_id": second.id}
        assert str(queued.state) == "queued"
