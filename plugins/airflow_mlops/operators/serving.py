"""BatchScoreOperator: score a file or table through a deployment, logged for monitoring."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.hooks import SqlSourceHook, apply_connections


class BatchScoreOperator(BaseOperator):
    """Score ``source`` (a file) or ``sql``/``table`` on ``conn_id`` through ``deployment_id``.

    The work is :func:`airflow_mlops.serving.batch.batch_score` (chunks of
    ``chunk_rows``, bounded memory, every row in the prediction log as if served in
    real time). Returns the small summary ``{deployment_id, model_id, rows, chunks,
    output, ...}`` as XCom, never the predictions. The log names the DAG as the
    caller (``airflow:<dag_id>``), so a scoring DAG counts as one consumer in
    service stats. ``max_explanations`` (with ``threshold_high``/``threshold_low``) adds
    each row's strongest SHAP explanations as DataRobot's ``EXPLANATION_<k>_…`` columns.
    """

    template_fields: Sequence[str] = (
        "deployment_id",
        "source",
        "sql",
        "table",
        "conn_id",
        "output_path",
        "passthrough_columns",
        "timestamp_column",
        "prediction_column",
        "chunk_rows",
        "max_explanations",
    )

    def __init__(
        self,
        *,
        deployment_id: str,
        source: str | None = None,
        sql: str | None = None,
        table: str | None = None,
        conn_id: str | None = None,
        output_path: str | None = None,
        passthrough_columns: list[str] | None = None,
        passthrough_all: bool = False,
        timestamp_column: str | None = None,
        prediction_column: str | None = None,
        chunk_rows: int = 10_000,
        max_explanations: int = 0,
        threshold_high: float | None = None,
        threshold_low: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deployment_id = deployment_id
        self.source = source
        self.sql = sql
        self.table = table
        self.conn_id = conn_id
        self.output_path = output_path
        self.passthrough_columns = passthrough_columns
        self.passthrough_all = passthrough_all
        self.timestamp_column = timestamp_column
        self.prediction_column = prediction_column
        self.chunk_rows = chunk_rows
        self.max_explanations = max_explanations
        self.threshold_high = threshold_high
        self.threshold_low = threshold_low

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.serving.batch import batch_score

        apply_connections(self.log)
        with SqlSourceHook(self.conn_id).scoped_engine() if self.conn_id else nullcontext() as connection:
            return batch_score(
                self.deployment_id,
                source=self.source or None,
                sql=self.sql or None,
                table=self.table or None,
                connection=connection,
                output=self.output_path or None,
                passthrough_columns=list(self.passthrough_columns or []) or None,
                passthrough_all=self.passthrough_all,
                timestamp_column=self.timestamp_column or None,
                prediction_column=self.prediction_column or None,
                chunk_rows=int(self.chunk_rows),
                caller=f"airflow:{self.dag_id}",
                max_explanations=int(self.max_explanations),
                threshold_high=self.threshold_high,
                threshold_low=self.threshold_low,
            )
