"""mlops_retrain: retrain a deployment's model, judge the challenger, replace the champion with a reason.

Scheduled on the retrain-request Asset that ``mlops_monitor`` (failing health)
and ``mlops_refresh`` (scheduled refreshes, requests made through REST or
Python) emit; each event's extra names the request. Triggered by hand, it
works on ``request_id``, or records a person's request for ``deployment_id``
with ``reason`` (default OTHER) and ``note``.

1. ``resolve_request``: the request, marked running by this run;
2. ``training_set``: the policy's window of recent labelled data (the policy's
   source, plus logged predictions joined with actuals);
3. ``ingest`` → ``prepare_sweep`` → ``sweep_worker`` (mapped) → ``sweep`` →
   ``register``: the same training chain as ``mlops_train`` (``training_chain``);
   the challenger is registered;
4. ``judge``: champion and challenger scored on the snapshot's holdout (the
   most recent labelled rows); better by the policy's margin and validated, or
   the run ends here with the reason written to the request;
5. ``replace_model``: the swap, with the trigger's reason; the model history
   keeps both versions, the reason, the evidence, both scores and this run.
   With ``replacement: approval`` the challenger waits for an owner instead.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from airflow_mlops.enums import MODEL_REPLACEMENT_REASON
from airflow_mlops.hooks import apply_connections
from airflow_mlops.operators import (
    RETRAIN_REQUESTS,
    IngestOperator,
    JudgeChallengerOperator,
    ReplaceModelOperator,
    RetrainingDataOperator,
    param_templates,
    record_retrain_failure,
    sweep_params,
    training_chain,
)

log = logging.getLogger(__name__)


@task
def resolve_request() -> dict[str, Any]:
    """The request this run works on (params first, else the triggering events), marked running."""
    from airflow_mlops.deployments import Deployment
    from airflow_mlops.retraining import start_retraining_run

    apply_connections(log)
    context = get_current_context()
    params = context["params"]
    extras = [dict(e.extra) for events in context["triggering_asset_events"].values() for e in events]
    request = start_retraining_run(
        dag_run_id=context["run_id"],
        request_id=params.get("request_id") or None,
        deployment_id=params.get("deployment_id") or None,
        reason=params.get("reason"),
        note=params.get("note") or None,
        evidence=params.get("evidence") or None,
        event_extras=extras,
        actor=f"airflow:{context['dag'].dag_id}/{context['run_id']}",
    )
    deployment = Deployment.get(request.deployment_id)
    return {
        **request.to_dict(),
        "dataset": f"{deployment.model['registered_model_name']}-retrain",
        "target": deployment.model["target_name"],
        "registered_model_name": deployment.model["registered_model_name"],
    }


@task.short_circuit
def should_replace(judgement: dict[str, Any]) -> bool:
    """Only a challenger judged better (and not waiting for approval) goes on to replace_model."""
    return bool(judgement["decision"] == "replace")


REQUEST = "ti.xcom_pull(task_ids='resolve_request')"
JUDGEMENT = "ti.xcom_pull(task_ids='judge')"
TRAINING_SET = "ti.xcom_pull(task_ids='training_set')"
SWEEP_PARAMS = sweep_params()

with DAG(
    dag_id="mlops_retrain",
    schedule=[RETRAIN_REQUESTS],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["mlops"],
    default_args={"owner": "mlops", "on_failure_callback": record_retrain_failure},
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "request_id": Param(
            None,
            type=["null", "string"],
            description="A recorded retraining request to work on; empty: from deployment_id, else the triggering event.",
        ),
        "deployment_id": Param(
            None,
            type=["null", "string"],
            description="Ask for a retrain of this deployment now (recorded as your request).",
        ),
        "reason": Param(
            MODEL_REPLACEMENT_REASON.OTHER.value,
            enum=[r.value for r in MODEL_REPLACEMENT_REASON],
            description="Why (with deployment_id): recorded in the request and the model history.",
        ),
        "note": Param(
            None,
            type=["null", "string"],
            description="Why, in your words (with deployment_id); kept as the request's evidence.",
        ),
        "evidence": Param(
            None,
            type=["null", "object"],
            description="Structured evidence (with deployment_id), e.g. scores from elsewhere.",
        ),
        "source": Param(
            None,
            type=["null", "string"],
            description="Labelled data to train on for this run; empty: the policy's source.",
        ),
        **SWEEP_PARAMS,
    },
) as dag:
    request = resolve_request()
    training_set = RetrainingDataOperator(
        task_id="training_set", request=request, source="{{ params.source }}"
    )
    ingest = IngestOperator(
        task_id="ingest",
        source=f"{{{{ {TRAINING_SET}['path'] }}}}",
        dataset=f"{{{{ {REQUEST}['dataset'] }}}}",
        target=f"{{{{ {REQUEST}['target'] }}}}",
        time_column=f"{{{{ {TRAINING_SET}['time_column'] }}}}",
        # Recent data is what drifted: its checks are logged and kept in meta.json, not fatal.
        policy="warn",
    )
    training_set >> ingest
    chain = training_chain(
        snapshot=ingest.output,
        target=f"{{{{ {REQUEST}['target'] }}}}",
        exclude_columns=f"{{{{ {TRAINING_SET}['exclude_columns'] }}}}",
        experiment_name="mlops-retrain",
        registered_model_name=f"{{{{ {REQUEST}['registered_model_name'] }}}}",
        **param_templates(SWEEP_PARAMS),
    )
    judge = JudgeChallengerOperator(
        task_id="judge", request=request, challenger=chain.register.output, snapshot=ingest.output
    )
    replace = ReplaceModelOperator(
        task_id="replace_model",
        deployment_id=f"{{{{ {REQUEST}['deployment_id'] }}}}",
        model=chain.register.output,
        reason=f"{{{{ {REQUEST}['reason'] }}}}",
        snapshot=ingest.output,
        request_id=f"{{{{ {REQUEST}['id'] }}}}",
        details=(
            f"{{{{ {{'evidence': {REQUEST}['evidence'], 'scores': {JUDGEMENT}['scores'], "
            f"'judgement': {JUDGEMENT}['message'], 'dag_run_id': run_id}} }}}}"
        ),
    )
    should_replace(judge.output) >> replace
