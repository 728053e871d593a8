"""mlops_batch_score: score a file or a table through a deployment, on demand.

Triggered from its form: every row is checked and scored like a real-time
request, in chunks (memory bounded by one chunk), written with the passthrough
columns to the output file, and logged to the prediction log so monitoring sees
batch predictions exactly like real-time ones. Give a timestamp column for a
backfill, or, for an external deployment, a prediction column to report
predictions made elsewhere.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_mlops.operators.serving import BatchScoreOperator

with DAG(
    dag_id="mlops_batch_score",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["mlops"],
    default_args={"owner": "mlops"},
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "deployment_id": Param("", type="string", description="The deployment that scores the rows."),
        "source": Param(
            None, type=["null", "string"], description="A .csv(.gz), .parquet or .jsonl file to score."
        ),
        "conn_id": Param(
            None, type=["null", "string"], description="An Airflow SQL connection, to score a table or query."
        ),
        "table": Param(None, type=["null", "string"], description="A table on conn_id to score."),
        "sql": Param(None, type=["null", "string"], description="A query on conn_id whose rows are scored."),
        "output": Param(
            None,
            type=["null", "string"],
            description="Where to write predictions (.parquet or .csv); empty: log only.",
        ),
        "passthrough_columns": Param(
            [], type="array", description="Source columns copied next to the predictions in the output."
        ),
        "timestamp_column": Param(
            None, type=["null", "string"], description="Column with each row's prediction time (backfills)."
        ),
        "prediction_column": Param(
            None,
            type=["null", "string"],
            description="External deployments only: the column holding predictions made elsewhere.",
        ),
        "chunk_rows": Param(10000, type="integer", minimum=1, description="Rows scored per chunk."),
    },
) as dag:
    BatchScoreOperator(
        task_id="batch_score",
        deployment_id="{{ params.deployment_id }}",
        source="{{ params.source }}",
        sql="{{ params.sql }}",
        table="{{ params.table }}",
        conn_id="{{ params.conn_id }}",
        output_path="{{ params.output }}",
        passthrough_columns="{{ params.passthrough_columns }}",
        timestamp_column="{{ params.timestamp_column }}",
        prediction_column="{{ params.prediction_column }}",
        chunk_rows="{{ params.chunk_rows }}",
    )
