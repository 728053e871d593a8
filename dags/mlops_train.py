"""mlops_train: ingest a CSV, sweep models with Optuna, register the best, deploy it.

Trigger it from the UI form or ``airflow dags trigger mlops_train --conf '{...}'``.
With ``deployment_id`` set, the new model replaces that deployment's model
instead of creating a new deployment.

The sweep is ``prepare_sweep`` → ``sweep_worker`` (mapped, ``workers`` copies
sharing one Optuna study; each logs every trial and the best so far) →
``sweep`` (the leaderboard). Clearing the run's sweep tasks resumes the same
study: finished trials are kept, interrupted ones run again.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_mlops.operators import (
    AutoMLSweepOperator,
    DeployModelOperator,
    IngestOperator,
    PrepareSweepOperator,
    RegisterModelOperator,
    SweepWorkerOperator,
)

#: Autopilot modes and metric names, spelt out so parsing the DAG imports no ML library.
MODES = ["quick", "auto", "comprehensive"]
METRICS_HELP = (
    "AUC, LogLoss, Accuracy, Balanced Accuracy, MCC (classes); RMSE, MAE, MAPE, RMSLE, "
    "Poisson Deviance, Gamma Deviance, R Squared (regression)"
)

with DAG(
    dag_id="mlops_train",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["mlops"],
    default_args={"owner": "mlops"},
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "source": Param("", type="string", description="Path of the CSV to train on."),
        "dataset": Param(
            "churn", type="string", description="Dataset name: snapshots are versioned under it."
        ),
        "target": Param("churned", type="string", description="The column to predict."),
        "exclude_columns": Param(
            ["customer_id", "event_time"],
            type="array",
            description="Columns that are not features (ids, timestamps).",
        ),
        "registered_model_name": Param("churn", type="string", description="MLflow registered model name."),
        "label": Param("Churn", type="string", description="Label of the deployment to create."),
        "deployment_id": Param(
            None,
            type=["null", "string"],
            description="Replace this deployment's model instead of creating one.",
        ),
        "mode": Param(
            "quick",
            enum=MODES,
            description="Autopilot mode: quick (16 trials, 2 min), auto (64, 15 min), comprehensive (400, 1 h).",
        ),
        "metric": Param(
            None,
            type=["null", "string"],
            description=f"Metric to optimise; empty: AUC (binary), LogLoss (multiclass), RMSE. One of {METRICS_HELP}.",
        ),
        "n_trials": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Optuna trials in total; empty: the mode's.",
        ),
        "timeout_s": Param(
            None,
            type=["null", "integer"],
            minimum=10,
            description="Hard wall-clock budget of the search in seconds; empty: the mode's.",
        ),
        "workers": Param(
            2,
            type="integer",
            minimum=1,
            maximum=32,
            description="Sweep workers (mapped tasks) sharing the study.",
        ),
        "experiment_name": Param("mlops-train", type="string", description="MLflow experiment of the sweep."),
    },
) as dag:
    ingest = IngestOperator(
        task_id="ingest",
        source="{{ params.source }}",
        dataset="{{ params.dataset }}",
        target="{{ params.target }}",
    )
    sweep_settings = {
        "snapshot": ingest.output,
        "target": "{{ params.target }}",
        "exclude_columns": "{{ params.exclude_columns }}",
        "experiment_name": "{{ params.experiment_name }}",
    }
    prepare = PrepareSweepOperator(
        task_id="prepare_sweep",
        **sweep_settings,
        mode="{{ params.mode }}",
        metric="{{ params.metric }}",
        n_trials="{{ params.n_trials }}",
        timeout_s="{{ params.timeout_s }}",
        workers="{{ params.workers }}",
    )
    workers = SweepWorkerOperator.partial(task_id="sweep_worker").expand(job=prepare.output)
    sweep = AutoMLSweepOperator(task_id="sweep", **sweep_settings, prepared=prepare.output)
    workers >> sweep
    register = RegisterModelOperator(
        task_id="register",
        snapshot=ingest.output,
        sweep=sweep.output,
        registered_model_name="{{ params.registered_model_name }}",
        target="{{ params.target }}",
        exclude_columns="{{ params.exclude_columns }}",
        experiment_name="{{ params.experiment_name }}",
    )
    DeployModelOperator(
        task_id="deploy",
        model=register.output,
        snapshot=ingest.output,
        label="{{ params.label }}",
        deployment_id="{{ params.deployment_id }}",
        reason="OTHER",
    )
