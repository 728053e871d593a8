"""mlops_refresh: every hour, request the scheduled refreshes that are due and dispatch waiting requests.

A deployment's retraining policy may name a cron ``refresh_schedule``; when it
fires within this run's data interval a ``SCHEDULED_REFRESH`` request is
recorded (the policy's reasons and cool-down apply). Every accepted request no
Airflow run knows about yet (the refreshes, and requests made through REST or
Python) is then emitted as a retrain-request Asset event, which schedules
``mlops_retrain``. Monitoring emits its own requests at once; this DAG is what
makes the others happen without a person triggering ``mlops_retrain``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_mlops.operators import RetrainingDispatchOperator

with DAG(
    dag_id="mlops_refresh",
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["mlops"],
    default_args={"owner": "mlops"},
    doc_md=__doc__,
    params={
        "interval_start": Param(
            None,
            type=["null", "string"],
            format="date-time",  # a date-time picker in the trigger form
            description="Start of the interval to look for due refreshes in (ISO-8601, UTC); empty: the run's.",
        ),
        "interval_end": Param(
            None,
            type=["null", "string"],
            format="date-time",  # a date-time picker in the trigger form
            description="End of that interval (ISO-8601, UTC); empty: the run's data interval end.",
        ),
    },
) as dag:
    RetrainingDispatchOperator(
        task_id="dispatch",
        interval_start="{{ params.interval_start }}",
        interval_end="{{ params.interval_end }}",
    )
