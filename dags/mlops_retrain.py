"""mlops_retrain: retrain a deployment's model on fresh data and replace it with a reason.

Scheduled on the retrain-request Asset that ``mlops_monitor`` emits; each event's
extra names the deployment, the reason and the evidence. It can also be
triggered by hand with ``deployment_id``, ``reason`` and ``source``. The sweep,
registration and replacement are the same operators as ``mlops_train``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from airflow_mlops.enums import MODEL_REPLACEMENT_REASON
from airflow_mlops.operators import (
    RETRAIN_REQUESTS,
    AutoMLSweepOperator,
    IngestOperator,
    PrepareSweepOperator,
    RegisterModelOperator,
    ReplaceModelOperator,
    SweepWorkerOperator,
)


@task
def resolve_request() -> dict[str, Any]:
    """What to retrain and why: the run's params, else the triggering retrain request."""
    from airflow_mlops.deployments import Deployment
    from airflow_mlops.enums import parse_enum

    context = get_current_context()
    params = context["params"]
    request: dict[str, Any] = {}
    if params.get("deployment_id"):
        request = {
            "deployment_id": params["deployment_id"],
            "reason": params["reason"],
            "evidence": params.get("evidence") or {},
        }
    else:
        events = [e for events in context["triggering_asset_events"].values() for e in events]
        if not events:
            raise ValueError("no deployment_id param and no triggering retrain request: nothing to retrain")
        request = dict(events[-1].extra)
    reason = parse_enum(MODEL_REPLACEMENT_REASON, request["reason"], field="reason").value
    deployment = Deployment.get(request["deployment_id"])
    source = params.get("source") or deployment.settings.get("retraining", {}).get("source")
    if not source:
        raise ValueError(
            f"deployment {deployment.id!r} has no retraining source: pass the 'source' param or set "
            "settings['retraining']['source']"
        )
    return {
        "deployment_id": deployment.id,
        "reason": reason,
        "evidence": request.get("evidence", {}),
        "source": source,
        "dataset": f"{deployment.model['registered_model_name']}-retrain",
        "target": deployment.model["target_name"],
        "registered_model_name": deployment.model["registered_model_name"],
    }


REQUEST = "ti.xcom_pull(task_ids='resolve_request')"

with DAG(
    dag_id="mlops_retrain",
    schedule=[RETRAIN_REQUESTS],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["mlops"],
    default_args={"owner": "mlops"},
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "deployment_id": Param(
            None,
            type=["null", "string"],
            description="Deployment to retrain; empty: from the retrain request.",
        ),
        "reason": Param(
            MODEL_REPLACEMENT_REASON.OTHER.value,
            enum=[r.value for r in MODEL_REPLACEMENT_REASON],
            description="Why the model is replaced (recorded in the model history).",
        ),
        "evidence": Param(
            None,
            type=["null", "object"],
            description="Why, in detail (e.g. drift scores or a note); recorded in the model history.",
        ),
        "source": Param(
            None,
            type=["null", "string"],
            description="CSV of recent labelled data; empty: the deployment's setting.",
        ),
        "exclude_columns": Param(
            ["customer_id", "event_time"], type="array", description="Columns that are not features."
        ),
        "mode": Param(
            "quick", enum=["quick", "auto", "comprehensive"], description="Autopilot mode of the sweep."
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
    },
) as dag:
    request = resolve_request()
    ingest = IngestOperator(
        task_id="ingest",
        source=f"{{{{ {REQUEST}['source'] }}}}",
        dataset=f"{{{{ {REQUEST}['dataset'] }}}}",
        target=f"{{{{ {REQUEST}['target'] }}}}",
    )
    sweep_settings = {
        "snapshot": ingest.output,
        "target": f"{{{{ {REQUEST}['target'] }}}}",
        "exclude_columns": "{{ params.exclude_columns }}",
        "experiment_name": "mlops-retrain",
    }
    prepare = PrepareSweepOperator(
        task_id="prepare_sweep",
        **sweep_settings,
        mode="{{ params.mode }}",
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
        registered_model_name=f"{{{{ {REQUEST}['registered_model_name'] }}}}",
        target=f"{{{{ {REQUEST}['target'] }}}}",
        exclude_columns="{{ params.exclude_columns }}",
        experiment_name="mlops-retrain",
    )
    replace = ReplaceModelOperator(
        task_id="replace_model",
        deployment_id=f"{{{{ {REQUEST}['deployment_id'] }}}}",
        model=register.output,
        reason=f"{{{{ {REQUEST}['reason'] }}}}",
        snapshot=ingest.output,
        details=f"{{{{ {{'evidence': {REQUEST}['evidence'], 'dag_run_id': run_id}} }}}}",
    )
    request >> ingest
