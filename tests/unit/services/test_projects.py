"""The project service below the API: one aim per project, runner failures, conditional state changes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.services.projects import (
    Project,
    ProjectInputError,
    create_project,
    get_project,
    set_target,
    update_project,
)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.lock = threading.Lock()

    def start(self, project: Project, settings: Settings) -> str:
        with self.lock:
            self.started.append(project.id)
        return "recorded"


class Broken:
    name = "broken"

    def start(self, project: Project, settings: Settings) -> str:
        raise RuntimeError("no worker slots")


def _project(tmp_path: Path, name: str = "svc") -> Project:
    path = tmp_path / f"{name}.csv"
    make_churn(200, seed=1).drop(columns=["customer_id", "event_time"]).to_csv(path, index=False)
    with open(path, "rb") as upload:
        return create_project(
            name=name, owner="alice", settings=get_settings(), upload=upload, file_name=path.name
        )


def test_two_concurrent_aims_start_one_sweep(mlops_home: Path, tmp_path: Path) -> None:
    project = _project(tmp_path)
    recorder = Recorder()
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def aim() -> None:
        barrier.wait()
        try:
            outcomes.append(
                set_target(project.id, target="churned", settings=get_settings(), runner=recorder)
            )
        except ProjectInputError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=aim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert recorder.started == [project.id]
    errors = [o for o in outcomes if isinstance(o, ProjectInputError)]
    assert len(errors) == 1
    assert "already has its target" in str(errors[0]) or "meanwhile" in str(errors[0])
    assert get_project(project.id, settings=get_settings()).status == "queued"


def test_a_runner_that_cannot_start_fails_the_project_with_its_error(
    mlops_home: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    failed = set_target(project.id, target="churned", settings=get_settings(), runner=Broken())
    assert failed.status == "failed"
    assert failed.error == "the broken runner: no worker slots"


def test_conditional_changes_leave_a_recorded_outcome_alone(mlops_home: Path, tmp_path: Path) -> None:
    project = _project(tmp_path)
    settings = get_settings()
    update_project(project.id, settings=settings, status="done")
    after = update_project(project.id, settings=settings, only_if=("queued", "running"), status="failed")
    assert after.status == "done"
    assert update_project(project.id, settings=settings, only_if=("done",), error="x").error == "x"


def test_a_project_name_that_is_a_dataset_name_names_its_dataset(mlops_home: Path, tmp_path: Path) -> None:
    assert _project(tmp_path, "churn-2024").dataset == "churn-2024"
    spaced = _project(tmp_path, "my project")
    assert spaced.dataset == f"project-{spaced.id}"


@pytest.mark.parametrize("mode", ["manual", "fast"])
def test_modes_we_lack_are_refused_before_any_work(mlops_home: Path, tmp_path: Path, mode: str) -> None:
    project = _project(tmp_path)
    recorder = Recorder()
    with pytest.raises(ProjectInputError, match="mode: "):
        set_target(project.id, target="churned", settings=get_settings(), mode=mode, runner=recorder)
    assert recorder.started == []
    assert get_project(project.id, settings=get_settings()).snapshot_version is None
