"""mlops_retrain through dag.test(): a person's request from the trigger form, the approval path, a failed run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_mlops.config import get_settings
from airflow_mlops.dag_runs import DagRunFailed, run_dag, xcom_result
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.retraining import list_requests
from airflow_mlops.services import approve_request

EXCLUDE = ["customer_id", "event_time"]
SWEEP = {"n_trials": 2, "workers": 1, "timeout_s": 120}


@pytest.fixture
def deployment(airflow_db: Path, mlops_home: Path, tmp_path: Path) -> Deployment:
    train = mlops_home / "train.csv"
    make_churn(1200, seed=1).to_csv(train, index=False)
    run = run_dag(
        "mlops_train",
        {
            "source": str(train),
            "dataset": "churn",
            "target": "churned",
            "exclude_columns": EXCLUDE,
            "registered_model_name": "churn",
            "label": "retrain dag",
            **SWEEP,
        },
    )
    return Deployment.get(xcom_result(run, "deploy")[0]["deployment_id"])


def test_a_person_asks_from_the_form_and_an_owner_approves_the_better_challenger(
    deployment: Deployment,
) -> None:
    source = get_settings().home / "recent.csv"
    # A person's request is timed now: the last day of the source is the window.
    now = datetime.now(UTC)
    older = make_churn(400, seed=5, start=now - timedelta(days=3), hours=24)
    recent = make_churn(1200, seed=6, period="concept", start=now - timedelta(hours=20), hours=19)
    older.to_csv(source, index=False)
    recent.to_csv(source, mode="a", header=False, index=False)
    deployment.update_retraining_settings(
        source=str(source),
        data_window="P1D",
        timestamp_column="event_time",
        replacement="approval",
        metric="AUC",
        margin=0.05,
    )
    run = run_dag(
        "mlops_retrain",
        {"deployment_id": deployment.id, "reason": "OTHER", "note": "new competitor in town", **SWEEP},
    )
    built = xcom_result(run, "training_set")[0]
    assert (built["rows"], built["rows_from_source"], built["rows_from_actuals"]) == (1200, 1200, 0)
    judged = xcom_result(run, "judge")[0]
    assert judged["decision"] == "awaiting_approval", judged["message"]
    assert judged["scores"]["challenger"] - judged["scores"]["champion"] >= 0.05
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["replace_model"] == "skipped"

    [request] = list_requests(deployment.id)
    assert (request.origin, request.reason, request.status) == ("user", "OTHER", "awaiting_approval")
    assert request.evidence == {"note": "new competitor in town"}
    assert request.dag_run_id == run.run_id
    assert (request.champion_model_id, request.challenger_model_id) == ("churn/1", "churn/2")
    assert request.scores["metric"] == "AUC"
    assert Deployment.get(deployment.id).model["id"] == "churn/1", "nothing changes before approval"

    approved = approve_request(request.id, actor="alice")
    assert approved.status == "replaced"
    after = Deployment.get(deployment.id)
    assert after.model["id"] == "churn/2"
    assert after.get_baseline("2") is not None, "the approved model gets its own monitoring baseline"
    last = after.get_model_history()[-1]
    assert (last["reason"], last["old_model_version"], last["new_model_version"]) == ("OTHER", "1", "2")
    assert last["details"]["evidence"] == {"note": "new competitor in town"}
    assert last["details"]["scores"]["challenger"] == judged["scores"]["challenger"]
    assert (last["details"]["dag_run_id"], last["details"]["approved_by"]) == (run.run_id, "alice")


def test_a_failed_run_ends_its_request_failed_saying_where(deployment: Deployment) -> None:
    tiny = get_settings().home / "tiny.csv"
    make_churn(30, seed=2).to_csv(tiny, index=False)
    deployment.update_retraining_settings(source=str(tiny))
    with pytest.raises(DagRunFailed, match="training_set"):
        run_dag("mlops_retrain", {"deployment_id": deployment.id, "reason": "OTHER", **SWEEP})
    [request] = list_requests(deployment.id)
    assert request.status == "failed"
    assert "failed in task training_set" in request.message
    assert "holds 30 labelled rows" in request.message
    assert Deployment.get(deployment.id).model["id"] == "churn/1"


def test_a_request_the_policy_suppresses_is_refused_with_its_reason(deployment: Deployment) -> None:
    deployment.update_retraining_settings(trigger_reasons=["ACCURACY"])
    with pytest.raises(DagRunFailed, match="resolve_request"):
        run_dag("mlops_retrain", {"deployment_id": deployment.id, "reason": "OTHER", **SWEEP})
    [request] = list_requests(deployment.id)
    assert request.status == "suppressed" and "not in the policy's trigger_reasons" in request.message
