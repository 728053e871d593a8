"""Operators of the closed loop: build a retrain's training set, judge its challenger.

``mlops_retrain`` chains them around the same training chain as
``mlops_train``::

    data = RetrainingDataOperator(task_id="training_set", request=...)
    ingest = IngestOperator(task_id="ingest", source=data.output["path"], ...)
    chain = training_chain(snapshot=ingest.output, ...)  # prepare → workers (mapped) → sweep → register
    judge = JudgeChallengerOperator(task_id="judge", request=..., challenger=chain.register.output, ...)
    ... ReplaceModelOperator(request_id=...) when the judgement is "replace"

All the work is in :mod:`airflow_mlops.services` and :mod:`airflow_mlops.retraining`;
these only pass Airflow's values through and keep the XComs small.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.config import get_settings
from airflow_mlops.hooks import apply_connections


def _request(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not {"id", "deployment_id", "requested_at"} <= set(value):
        raise TypeError(
            f"request must be a retraining request as a dict (RetrainingRequest.to_dict()), got {value!r}"
        )
    return value


class RetrainingDataOperator(BaseOperator):
    """Write the policy's window of recent labelled data for a request to ``MLOPS_HOME/retraining/<id>/``.

    Returns the file's path and counts (rows from the source, rows from logged
    predictions joined with actuals), the window and ``exclude_columns`` (the
    timestamp column, which orders the holdout but is not a feature).
    ``source`` overrides the policy's source for this run.
    """

    template_fields: Sequence[str] = ("request", "source")

    def __init__(self, *, request: dict[str, Any] | str, source: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request = request
        self.source = source

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.services import build_training_set

        apply_connections(self.log)
        request = _request(self.request)
        out = get_settings().home / "retraining" / request["id"] / "training.parquet"
        built = build_training_set(
            request["deployment_id"],
            as_of=datetime.fromisoformat(request["requested_at"]),
            out_path=out,
            source=self.source or None,
            progress=self.log.info,
        )
        self.log.info(
            "training set for %s: %d rows (%d from the source, %d from actuals) in (%s, %s]",
            request["deployment_id"],
            built.rows,
            built.rows_from_source,
            built.rows_from_actuals,
            built.window_start,
            built.window_end,
        )
        return {**built.to_dict(), "exclude_columns": [built.time_column] if built.time_column else []}


class JudgeChallengerOperator(BaseOperator):
    """Score champion and challenger on the snapshot's holdout and decide under the policy.

    A decision that ends the run (``not_replaced``, ``awaiting_approval``) is
    written to the request at once with both scores; ``replace`` is written by
    :class:`~airflow_mlops.operators.ReplaceModelOperator` once the swap is done.
    Returns ``{"decision", "message", "scores", "champion_model_id", "challenger_model_id"}``.
    """

    template_fields: Sequence[str] = ("request", "challenger", "snapshot")

    def __init__(
        self,
        *,
        request: dict[str, Any] | str,
        challenger: dict[str, Any] | str,
        snapshot: dict[str, Any] | str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.request = request
        self.challenger = challenger
        self.snapshot = snapshot

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.services import judge_request

        apply_connections(self.log)
        challenger = (
            self.challenger["model_id"] if isinstance(self.challenger, dict) else str(self.challenger)
        )
        result = judge_request(_request(self.request), challenger, self.snapshot)
        self.log.info("%s", result["message"])
        return result


def record_retrain_failure(context: Context) -> None:
    """``on_failure_callback`` of a retraining run's tasks: the request ends ``failed``, saying where.

    Without it a request whose run broke would stay ``running`` forever, and
    the history could not say why nothing was replaced.
    """
    from airflow_mlops.retraining import RequestStateError, get_request, record_outcome

    apply_connections()  # the task may have failed before its execute exported them
    ti = context["ti"]
    request = ti.xcom_pull(task_ids="resolve_request")
    if not isinstance(request, dict) or "id" not in request:
        return
    try:
        if get_request(request["id"]).status not in ("requested", "running"):
            return
        error = context.get("exception")
        record_outcome(
            request["id"],
            status="failed",
            message=f"failed in task {ti.task_id} of DAG run {context['run_id']}: {error}",
            details={"failed_task": ti.task_id},
        )
    except (LookupError, RequestStateError):
        return
