"""mlops_train: ingest a CSV, sweep models with Optuna, register the best, deploy it.

Trigger it from the UI form or ``airflow dags trigger mlops_train --conf '{...}'``.
With ``deployment_id`` set, the new model replaces that deployment's model
instead of creating a new deployment.

The training chain (the ``training`` task group, shared with ``mlops_retrain``)
is ``prepare_sweep`` → ``sweep_worker`` (mapped, ``workers`` copies sharing one
Optuna study; each logs every trial and the best so far) → ``sweep`` (the
leaderboard) → ``register``. Clearing the run's sweep tasks resumes the same
study: finished trials are kept, interrupted ones run again.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_mlops.config import get_settings
from airflow_mlops.operators import (
    DeployModelOperator,
    IngestOperator,
    param_templates,
    sweep_params,
    training_chain,
)

SWEEP_PARAMS = sweep_params(with_metric=True)
#: What `make demo` writes: the form's default source when it exists, so its defaults run.
DEMO_SOURCE = get_settings().home / "demo-data" / "churn_train.csv"

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
        "source": Param(
            str(DEMO_SOURCE) if DEMO_SOURCE.exists() else "",
            type="string",
            minLength=1,
            description=f"Path or URL of the data to train on (CSV, Parquet, JSON…). `make demo` writes {DEMO_SOURCE}.",
        ),
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
        "label": Param(
            "Churn (trained in Airflow)", type="string", description="Label of the deployment to create."
        ),
        "deployment_id": Param(
            None,
            type=["null", "string"],
            description="Replace this deployment's model instead of creating one.",
        ),
        **SWEEP_PARAMS,
        "experiment_name": Param("mlops-train", type="string", description="MLflow experiment of the sweep."),
    },
) as dag:
    ingest = IngestOperator(
        task_id="ingest",
        source="{{ params.source }}",
        dataset="{{ params.dataset }}",
        target="{{ params.target }}",
    )
    chain = training_chain(
        snapshot=ingest.output,
        target="{{ params.target }}",
        exclude_columns="{{ params.exclude_columns }}",
        experiment_name="{{ params.experiment_name }}",
        registered_model_name="{{ params.registered_model_name }}",
        **param_templates(SWEEP_PARAMS),
    )
    DeployModelOperator(
        task_id="deploy",
        model=chain.register.output,
        snapshot=ingest.output,
        label="{{ params.label }}",
        deployment_id="{{ params.deployment_id }}",
        reason="OTHER",
    )
