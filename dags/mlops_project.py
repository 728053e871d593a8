"""mlops_project: the sweep of a DataRobot-style project, when the ``airflow`` project runner starts it.

``PATCH /api/v2/projects/{id}/aim/`` (the client's ``project.set_target``)
snapshots the project's upload and, with ``MLOPS_PROJECT_RUNNER=airflow``,
triggers this DAG with ``{"project_id": ...}``. Its one task runs the same
worker as the local runner's child process: the sweep, recorded in MLflow,
with the project's state (running → done / failed) in the MLOps store.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_mlops.operators.projects import PROJECT_DAG_ID, ProjectSweepOperator

with DAG(
    dag_id=PROJECT_DAG_ID,
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["mlops"],
    default_args={"owner": "mlops"},
    doc_md=__doc__,
    params={"project_id": Param("", type="string", description="The project whose target was set.")},
) as dag:
    ProjectSweepOperator(task_id="sweep", project_id="{{ params.project_id }}")
