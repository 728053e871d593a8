"""mlops_monitor: every hour, one mapped monitoring task per active deployment.

Each task folds the predictions logged since the last pass into hourly buckets,
joins actuals by association id, judges service, drift (per feature against the
model's training baseline) and accuracy health over the window, stores the three
verdicts, logs an Evidently report to MLflow, and emits a retrain request (an
Asset event that schedules ``mlops_retrain``) when drift health is failing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_mlops.hooks import apply_connections
from airflow_mlops.operators import RETRAIN_REQUESTS_ALIAS, MonitorDeploymentOperator

log = logging.getLogger(__name__)


@task
def active_deployments() -> list[str]:
    """Ids of the active deployments (read from the MLOps store, not Airflow's DB)."""
    from airflow_mlops.deployments import Deployment

    apply_connections(log)
    return [d.id for d in Deployment.list(status="active")]


with DAG(
    dag_id="mlops_monitor",
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["mlops"],
    default_args={"owner": "mlops"},
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date-time",  # a date-time picker in the trigger form
            description="End of the drift window (ISO-8601, UTC); empty: the run's data interval end.",
        ),
        "window_hours": Param(
            24, type="integer", minimum=1, description="Length of the drift window in hours."
        ),
        "report": Param(
            True, type="boolean", description="Log an Evidently HTML report of the window to MLflow."
        ),
    },
) as dag:
    MonitorDeploymentOperator.partial(
        task_id="monitor",
        # Mapped operators are not instantiated at parse time: name the outlet here so
        # Airflow registers the alias that retrain requests are emitted through.
        outlets=[RETRAIN_REQUESTS_ALIAS],
        window_end="{{ params.window_end }}",
        window_hours="{{ params.window_hours }}",
        report="{{ params.report }}",
    ).expand(deployment_id=active_deployments())
