"""AutoML projects, DataRobot's getting-started flow on our parts: upload → target → Autopilot → leaderboard.

A project is an uploaded file (or a URL) that becomes a dataset snapshot once
its target is known, and one sweep over that snapshot:

* :func:`create_project` stores the upload under ``$MLOPS_HOME/projects/<id>/``
  after reading it through the same reader ingestion uses (empty files,
  non-UTF-8 bytes, unparseable rows fail here, with ingestion's message); the
  project row is written only once the file is in place, so a refused upload
  leaves nothing behind.
* :func:`set_target` runs the real ingestion with the target (the dataset's
  contract in force: a hand-written ``<dataset>.yaml`` or the one inferred on
  its first ingestion), checks mode, metric and task, records the sweep's
  settings, and asks a runner (:mod:`.project_runners`) to start the sweep in
  a worker outside the request. A failed ingestion leaves the project as it
  was (no target set), so the caller can fix the data or the target and retry.
* The worker (:mod:`.project_sweep`) moves the project through ``running`` to
  ``done`` or ``failed``; :func:`project_leaderboard` reads the sweep's
  leaderboard (live from the Optuna study while it runs, then from MLflow).

The dataset is named after the project when the name is a valid dataset name
(``churn``: its hand-written contract applies and versions accumulate),
otherwise ``project-<id>``. Nothing here imports Airflow.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import pandas as pd
from sqlalchemy import select, update

from airflow_mlops.config import Settings
from airflow_mlops.datasets import ContractError, DataValidationError, find_contract, ingest, open_source
from airflow_mlops.security import Principal
from airflow_mlops.store import ProjectRow, session_scope

__all__ = [
    "AUTOPILOT_MODE_NUMBERS",
    "MODES",
    "SWEEP_TIMEOUT_ENV",
    "SWEEP_TRIALS_ENV",
    "TARGET_TYPES",
    "Project",
    "ProjectInputError",
    "ProjectNotFound",
    "ProjectRunner",
    "create_project",
    "delete_project",
    "get_project",
    "list_projects",
    "project_dir",
    "project_leaderboard",
    "rename_project",
    "set_target",
    "update_project",
]

#: DataRobot's Autopilot modes (the ``mode`` of ``PATCH projects/{id}/aim/``) → our sweep modes
#: (:mod:`airflow_mlops.automl.modes`): QUICK → quick (16 trials, 2 min), FULL_AUTO ("auto") →
#: auto (64 trials, 15 min), COMPREHENSIVE → comprehensive (400 trials, 1 h, Hyperband).
MODES = {"quick": "quick", "auto": "auto", "comprehensive": "comprehensive"}
#: The number DataRobot's project JSON carries as ``autopilotMode`` (the client waits only on 0, 3, 4).
AUTOPILOT_MODE_NUMBERS = {"auto": 0, "quick": 3, "comprehensive": 4}
#: Budget overrides for every project's sweep (small in tests and demos): a trial count, seconds.
SWEEP_TRIALS_ENV = "MLOPS_PROJECT_SWEEP_TRIALS"
SWEEP_TIMEOUT_ENV = "MLOPS_PROJECT_SWEEP_TIMEOUT_S"
#: DataRobot's target types (``targetType``) ↔ our tasks.
TARGET_TYPES = {"binary": "Binary", "multiclass": "Multiclass", "regression": "Regression"}

_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ProjectRunner(Protocol):
    """Starts a queued project's sweep outside the request and says where (the project's ``worker``).

    Implementations and the registry to choose one by name: :mod:`.project_runners`.
    """

    name: str

    def start(self, project: Project, settings: Settings) -> str: ...


class ProjectNotFound(LookupError):
    """No such project, or one the caller may not see (the same answer, so ids cannot be probed)."""


class ProjectInputError(ValueError):
    """The request cannot be honoured as asked; the message names the field or the data's problem."""


@dataclass(frozen=True)
class Project:
    """One project as stored: the upload, the target and the sweep's state."""

    id: str
    name: str
    description: str | None
    owner: str
    file_name: str | None
    source: str
    dataset: str
    columns: list[str]
    created_at: datetime
    updated_at: datetime
    status: str
    error: str | None
    target: str | None
    target_type: str | None
    mode: str | None
    metric: str | None
    snapshot_version: str | None
    sweep: dict[str, Any] = field(default_factory=dict)
    runner: str | None = None
    worker: str | None = None
    parent_run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_row(cls, row: ProjectRow) -> Project:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    @property
    def autopilot_done(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def study_name(self) -> str:
        return f"project-{self.id}"


def project_dir(settings: Settings, project_id: str) -> Path:
    """Where a project's upload and its worker's log live."""
    return settings.home / "projects" / project_id


def _now() -> datetime:
    return datetime.now(UTC)


def _dataset_name(name: str, project_id: str) -> str:
    return name if _DATASET_NAME.match(name) else f"project-{project_id}"


def _read_through(path: str, *, roots: list[Path] | None) -> list[str]:
    """Read every row with ingestion's own reader: the columns, or ingestion's error for unreadable input."""
    source = open_source(path, allowed_roots=roots)
    source.fingerprint()  # refuses empty files and non-UTF-8 bytes, with line and column
    columns: list[str] | None = None
    rows = 0
    for chunk in source.chunks():
        columns = columns or list(chunk.table.column_names)
        rows += chunk.table.num_rows
    if not columns or rows == 0:
        raise ProjectInputError(f"{source.label}: no data rows; expected a header and at least one row")
    return columns


def create_project(
    *,
    name: str,
    owner: str,
    settings: Settings,
    upload: IO[bytes] | None = None,
    file_name: str | None = None,
    url: str | None = None,
) -> Project:
    """Store ``upload`` (or remember ``url``) as a new project, once ingestion's reader accepts it."""
    if (upload is None) == (url is None):
        raise ProjectInputError("file: upload a file (multipart field 'file') or give a 'url', exactly one")
    project_id = uuid.uuid4().hex[:24]
    final = project_dir(settings, project_id)
    staging = final.parent / f".staging-{project_id}"
    staging.mkdir(parents=True)
    shown_name: str | None
    try:
        if upload is not None:
            safe = _FILE_NAME.sub("_", os.path.basename(file_name or "data.csv")).lstrip(".") or "data.csv"
            target = staging / safe
            with open(target, "wb") as out:
                shutil.copyfileobj(upload, out, 1024 * 1024)
            try:
                columns = _read_through(str(target), roots=[staging])
            except (DataValidationError, ContractError, ValueError) as exc:
                raise ProjectInputError(str(exc).replace(str(staging) + os.sep, "")) from exc
            staging.rename(final)
            source, shown_name = str(final / safe), safe
        else:
            assert url is not None
            try:
                columns = _read_through(url, roots=None)
            except (DataValidationError, ContractError, ValueError) as exc:
                raise ProjectInputError(f"url: {exc}") from exc
            staging.rename(final)
            source, shown_name = url, os.path.basename(url.rstrip("/")) or None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    now = _now()
    row = ProjectRow(
        id=project_id,
        name=name,
        description=None,
        owner=owner,
        file_name=shown_name,
        source=source,
        dataset=_dataset_name(name, project_id),
        columns=columns,
        created_at=now,
        updated_at=now,
        status="created",
        sweep={},
    )
    try:
        with session_scope(settings.store_url) as session:
            session.add(row)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    return Project.from_row(row)


def _visible(row: ProjectRow | None, project_id: str, principal: Principal | None) -> ProjectRow:
    if row is None or (principal is not None and not principal.is_admin and row.owner != principal.name):
        raise ProjectNotFound(f"no project with id {project_id!r}")
    return row


def get_project(project_id: str, *, settings: Settings, principal: Principal | None = None) -> Project:
    """The project, if ``principal`` (None: a trusted in-process caller) created it or is an admin."""
    with session_scope(settings.store_url) as session:
        return Project.from_row(_visible(session.get(ProjectRow, project_id), project_id, principal))


def list_projects(*, settings: Settings, principal: Principal) -> list[Project]:
    """The caller's projects (every project for an admin), newest first."""
    query = select(ProjectRow).order_by(ProjectRow.created_at.desc())
    if not principal.is_admin:
        query = query.where(ProjectRow.owner == principal.name)
    with session_scope(settings.store_url) as session:
        return [Project.from_row(row) for row in session.scalars(query)]


def rename_project(
    project_id: str,
    *,
    settings: Settings,
    principal: Principal,
    name: str | None = None,
    description: str | None = None,
) -> Project:
    """Change the project's name or description (the dataset keeps the name it was given)."""
    get_project(project_id, settings=settings, principal=principal)
    values: dict[str, Any] = {
        k: v for k, v in (("name", name), ("description", description)) if v is not None
    }
    return update_project(project_id, settings=settings, **values)


def delete_project(project_id: str, *, settings: Settings, principal: Principal) -> None:
    """Forget the project and its upload; its snapshot and MLflow runs stay (they are lineage)."""
    with session_scope(settings.store_url) as session:
        row = _visible(session.get(ProjectRow, project_id), project_id, principal)
        if row.status in ("queued", "running"):
            raise ProjectInputError(
                f"project {project_id!r}: its Autopilot is {row.status}; wait for it to finish before deleting"
            )
        session.delete(row)
    shutil.rmtree(project_dir(settings, project_id), ignore_errors=True)


def update_project(
    project_id: str, *, settings: Settings, only_if: tuple[str, ...] | None = None, **values: Any
) -> Project:
    """Set columns of the project's row (the worker's and the runner's state changes); the row after.

    With ``only_if``, nothing changes unless the status is one of those: one conditional
    ``UPDATE``, atomic on every database, so a watcher never overwrites the outcome a worker
    just recorded and two concurrent requests cannot both claim the project.
    """
    changes = {**values, "updated_at": _now()}
    condition = ProjectRow.id == project_id
    if only_if is not None:
        condition = condition & ProjectRow.status.in_(only_if)
    with session_scope(settings.store_url) as session:
        session.execute(update(ProjectRow).where(condition).values(**changes))
    with session_scope(settings.store_url) as session:
        row = session.get(ProjectRow, project_id)
        if row is None:
            raise ProjectNotFound(f"no project with id {project_id!r}")
        return Project.from_row(row)


def _contract_dirs() -> list[Path]:
    """Where hand-written contracts are looked up: ``MLOPS_CONTRACTS_DIR``, else ``./include/contracts``."""
    configured = os.environ.get("MLOPS_CONTRACTS_DIR", "")
    if configured.strip():
        return [Path(p) for p in configured.split(os.pathsep) if p.strip()]
    return [Path.cwd() / "include" / "contracts"]


def _budget(env: str, kind: type[int] | type[float]) -> int | float | None:
    text = os.environ.get(env, "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ProjectInputError(f"{env}={text!r} must be a number") from None
    if value <= 0:
        raise ProjectInputError(f"{env}={text!r} must be positive")
    return value


def _check_mode(mode: str | None) -> str:
    chosen = mode or "quick"
    if chosen == "manual":
        raise ProjectInputError(
            "mode: 'manual' (DataRobot's manual mode, training chosen blueprints by hand) has no counterpart "
            "in airflow-mlops; use 'quick', 'auto' or 'comprehensive'"
        )
    if chosen not in MODES:
        raise ProjectInputError(
            f"mode: {chosen!r} is not valid; expected one of {', '.join(map(repr, MODES))}"
        )
    return MODES[chosen]


def set_target(
    project_id: str,
    *,
    target: str,
    settings: Settings,
    principal: Principal | None = None,
    mode: str | None = None,
    metric: str | None = None,
    target_type: str | None = None,
    runner: ProjectRunner,
) -> Project:
    """Snapshot the upload with ``target``, check the sweep's settings, queue the sweep with a runner."""
    from airflow_mlops.automl import default_metric, detect_task, get_metric

    project = get_project(project_id, settings=settings, principal=principal)
    if project.status != "created":
        raise ProjectInputError(
            f"target: project {project_id!r} already has its target {project.target!r} (Autopilot "
            f"{project.status}); create another project to model another target"
        )
    sweep_mode = _check_mode(mode)
    chosen_runner = runner
    if metric is not None:
        try:
            get_metric(metric)
        except ValueError as exc:
            raise ProjectInputError(f"metric: {exc}") from exc
    task_override = None
    if target_type is not None:
        by_name = {v.lower(): k for k, v in TARGET_TYPES.items()}
        task_override = by_name.get(target_type.lower())
        if task_override is None:
            raise ProjectInputError(
                f"targetType: {target_type!r} is not supported; expected one of {', '.join(TARGET_TYPES.values())}"
            )
    n_trials = _budget(SWEEP_TRIALS_ENV, int)
    timeout_s = _budget(SWEEP_TIMEOUT_ENV, float)
    local = not re.match(r"^[a-z][a-z0-9+.-]*://", project.source)
    try:
        snapshot = ingest(
            project.source,
            dataset=project.dataset,
            target=target,
            snapshots_dir=settings.snapshots_dir,
            contract=find_contract(project.dataset, _contract_dirs()),
            allowed_roots=[project_dir(settings, project_id)] if local else None,
        )
    except (DataValidationError, ContractError, ValueError) as exc:
        message = str(exc).replace(str(project_dir(settings, project_id)) + os.sep, "")
        raise ProjectInputError(message) from exc
    # As DataRobot sets aside ID columns: the key identifies rows, and times are for the split, not features.
    in_force = snapshot.contract()
    dates = [c.name for c in in_force.columns if c.type == "datetime"]
    exclude = [c for c in dict.fromkeys([*in_force.key, *dates]) if c != target]
    labels = snapshot.train_frame()[target]
    try:
        task = detect_task(labels, task_override)
        chosen_metric = metric or default_metric(task)
        get_metric(chosen_metric, task)
    except ValueError as exc:
        raise ProjectInputError(f"{'metric' if metric else 'target'}: {exc}") from exc
    claim = uuid.uuid4().hex  # two concurrent aims: only the one whose claim lands starts a sweep
    project = update_project(
        project_id,
        settings=settings,
        only_if=("created",),
        status="queued",
        error=None,
        target=target,
        target_type=task,
        mode=sweep_mode,
        metric=chosen_metric,
        snapshot_version=snapshot.version,
        runner=chosen_runner.name,
        sweep={
            "n_trials": n_trials,
            "timeout_s": timeout_s,
            "exclude": exclude,
            "n_train": snapshot.n_train,
            "n_holdout": snapshot.n_holdout,
            "claim": claim,
        },
    )
    if project.sweep.get("claim") != claim:
        raise ProjectInputError(
            f"target: project {project_id!r} got its target {project.target!r} from another request meanwhile"
        )
    try:
        worker = chosen_runner.start(project, settings)
    except Exception as exc:
        return update_project(
            project_id, settings=settings, status="failed", error=f"the {chosen_runner.name} runner: {exc}"
        )
    return update_project(project_id, settings=settings, worker=worker)


def project_leaderboard(project: Project, settings: Settings) -> pd.DataFrame:
    """The project's ranked models: live from the study while the sweep runs, then MLflow's table."""
    from airflow_mlops.automl import default_storage, get_leaderboard, load_leaderboard

    if project.status == "done" and project.parent_run_id:
        return load_leaderboard(project.parent_run_id, settings.mlflow_tracking_uri)
    if project.status == "running" and project.parent_run_id:
        try:
            return get_leaderboard(project.study_name, default_storage(settings.home))
        except KeyError:  # the study is not written yet
            pass
    return pd.DataFrame(columns=["rank", "family", "score", "run_id"])
