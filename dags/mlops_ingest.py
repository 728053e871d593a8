"""mlops_ingest: snapshot a file, URL or SQL query as a validated, versioned dataset.

Trigger it from the UI form or ``airflow dags trigger mlops_ingest --conf '{...}'``.
Every snapshot emits an event on the Asset ``mlops://datasets/<dataset>``, so a
DAG with ``schedule=[dataset_asset("<dataset>")]`` runs on new data. The
dataset's first ingestion infers its contract; later ones are checked against
it (or against ``include/contracts/<dataset>.yaml``) with the chosen policy.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_mlops.datasets import CHECKS, FORMATS, POLICIES
from airflow_mlops.operators import IngestOperator

with DAG(
    dag_id="mlops_ingest",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["mlops"],
    default_args={"owner": "mlops"},
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "source": Param(
            "",
            type="string",
            description="Path or URL of the file (CSV, Parquet, JSON, JSON Lines, .xlsx), or a SQL query "
            "when a connection is set.",
        ),
        "conn_id": Param(
            None, type=["null", "string"], description="Airflow connection of the database to query."
        ),
        "table": Param(
            None, type=["null", "string"], description="Table to snapshot instead of a query (with conn_id)."
        ),
        "dataset": Param(
            "churn", type="string", description="Dataset name: snapshots are versioned under it."
        ),
        "target": Param("churned", type="string", description="The column to predict."),
        "time_column": Param(
            None,
            type=["null", "string"],
            description="Split by time: the latest rows become the holdout. Empty: a stratified random split.",
        ),
        "key": Param(
            None,
            type=["null", "string", "array"],
            description="Column(s) identifying a row; duplicates are a check.",
        ),
        "format": Param(
            None,
            type=["null", "string"],
            enum=[None, *sorted(FORMATS)],
            description="File format; empty: from the file extension.",
        ),
        "options": Param(
            {},
            type="object",
            description="Reader options, e.g. {'delimiter': ';', 'encoding': 'latin-1'} or {'sheet': 'Data'}.",
        ),
        "policy": Param(
            None,
            type=["null", "string"],
            enum=[None, *POLICIES],
            description="What a failed check does: fail, warn, or quarantine rows. Empty: the contract's.",
        ),
        "checks": Param(
            {},
            type="object",
            description=f"Per-check policies, e.g. {{'out_of_range': 'quarantine'}}. Checks: {', '.join(CHECKS)}.",
        ),
        "holdout_fraction": Param(
            0.2,
            type="number",
            exclusiveMinimum=0,
            exclusiveMaximum=1,
            description="Share of rows held out for evaluation.",
        ),
        "seed": Param(0, type="integer", minimum=0, description="Seed of the train/holdout split."),
        "contract": Param(
            None,
            type=["null", "string"],
            description="Contract YAML path; empty: include/contracts/<dataset>.yaml if present, else inferred.",
        ),
    },
) as dag:
    IngestOperator(
        task_id="ingest",
        source="{{ params.source }}",
        conn_id="{{ params.conn_id }}",
        table="{{ params.table }}",
        dataset="{{ params.dataset }}",
        target="{{ params.target }}",
        time_column="{{ params.time_column }}",
        key="{{ params.key }}",
        format="{{ params.format }}",
        options="{{ params.options }}",
        policy="{{ params.policy }}",
        checks="{{ params.checks }}",
        holdout_fraction="{{ params.holdout_fraction }}",
        seed="{{ params.seed }}",
        contract="{{ params.contract }}",
    )
