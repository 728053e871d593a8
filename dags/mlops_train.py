"""mlops_train: ingest a CSV, sweep models with Optuna, register the best, deploy it.

Trigger it from the UI form or ``airflow dags trigger mlops_train --conf '{...}'``.
With ``deployment_id`` set, the new model replaces that deployment's model
instead of creating a new deployment.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_mlops.operators import (
    AutoMLSweepOperator,
    DeployModelOperator,
    IngestOperator,
    RegisterModelOperator,
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
        "n_trials": Param(10, type="integer", minimum=1, description="Optuna trials in the sweep."),
        "timeout_s": Param(300, type="integer", minimum=10, description="Wall-clock budget of the sweep."),
        "experiment_name": Param("mlops-train", type="string", description="MLflow experiment of the sweep."),
    },
) as dag:
    ingest = IngestOperator(
        task_id="ingest",
        source="{{ params.source }}",
        dataset="{{ params.dataset }}",
        target="{{ params.target }}",
    )
    sweep = AutoMLSweepOperator(
        task_id="sweep",
        snapshot=ingest.output,
        target="{{ params.target }}",
        exclude_columns="{{ params.exclude_columns }}",
        n_trials="{{ params.n_trials }}",
        timeout_s="{{ params.timeout_s }}",
        experiment_name="{{ params.experiment_name }}",
    )
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
