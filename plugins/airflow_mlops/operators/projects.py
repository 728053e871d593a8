"""A DataRobot-style project's sweep inside Airflow: the ``mlops_project`` DAG and the runner that triggers it.

With the plugin, setting a project's target (``PATCH /api/v2/projects/{id}/aim/``)
can start a run of ``mlops_project`` instead of a child process of the API
server (``MLOPS_PROJECT_RUNNER=airflow``): :class:`ProjectSweepOperator` runs the
same worker code (:func:`airflow_mlops.services.project_sweep.run_project_sweep`)
on an Airflow worker, so the run shows in the Airflow UI with its log, and the
project's state moves exactly as with the local runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.hooks import apply_connections

#: The DAG the ``airflow`` project runner triggers.
PROJECT_DAG_ID = "mlops_project"


class ProjectSweepOperator(BaseOperator):
    """Run a queued project's sweep here; a failure leaves the project ``failed`` with the error."""

    template_fields: Sequence[str] = ("project_id",)

    def __init__(self, *, project_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.services.project_sweep import run_project_sweep
        from airflow_mlops.services.projects import update_project

        apply_connections(self.log)
        settings = get_settings()
        try:
            parent_run_id = run_project_sweep(str(self.project_id), settings)
        except Exception as exc:
            update_project(
                str(self.project_id),
                settings=settings,
                only_if=("queued", "running"),
                status="failed",
                error=f"{type(exc).__name__}: {exc}",
                finished_at=datetime.now(UTC),
            )
            raise
        return {"project_id": self.project_id, "parent_run_id": parent_run_id}


class AirflowDagRunner:
    """The ``airflow`` project runner: a run of ``mlops_project`` with the project's id as its conf."""

    name = "airflow"

    def start(self, project: Any, settings: Settings) -> str:
        from airflow.api.common.trigger_dag import trigger_dag

        run_id = f"project__{project.id}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        trigger_dag(
            PROJECT_DAG_ID, run_id=run_id, conf={"project_id": project.id}, triggered_by=_triggered_by()
        )
        return f"Airflow DAG run {PROJECT_DAG_ID}/{run_id}"


def _triggered_by() -> Any:
    from airflow.utils.types import DagRunTriggeredByType

    return DagRunTriggeredByType.REST_API
