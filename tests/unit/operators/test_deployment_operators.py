"""DeployModelOperator and ReplaceModelOperator in a tiny DAG run for real with ``dag.test()``.

``dag.test()`` runs only DAGs that a DAG bundle holds, so each test writes its DAG
file into a folder of its own, configured as an extra bundle for the test's
duration. The models are the session's registered ones; the deployment lives in
the test's own MLOps store. Actors in the history are ``airflow:<dag>/<run>``.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_mlops.dag_runs import load_dag, xcom_result
from airflow_mlops.deployments import Deployment
from airflow_mlops.operators import DeployModelOperator, ReplaceModelOperator

if TYPE_CHECKING:
    from conftest import RegisteredModels

BUNDLE = "deployment-operator-tests"


@pytest.fixture
def dag_folder(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAG bundle of this test's own, ahead of the project's dags folder."""
    folder = tmp_path / "dags"
    folder.mkdir()
    bundles = [
        {
            "name": BUNDLE,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder)},
        },
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        },
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    return folder


def _dag(folder: Path, name: str, body: str, params: dict[str, Any]) -> Any:
    """Write a DAG file with the operators in ``body`` and load it the way ``dag_runs`` does."""
    dag_id = f"{name}_{uuid.uuid4().hex[:8]}"
    source = textwrap.dedent(
        """
        from datetime import datetime, timezone

        from airflow.sdk import DAG

        from airflow_mlops.operators import DeployModelOperator, ReplaceModelOperator

        DEPLOYMENT_ID = "{{{{ ti.xcom_pull(task_ids='create')['deployment_id'] }}}}"

        with DAG(
            dag_id={dag_id!r},
            schedule=None,
            start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
            catchup=False,
            params={params!r},
        ) as dag:
        """
    ).format(dag_id=dag_id, params=params) + textwrap.indent(textwrap.dedent(body), "    ")
    (folder / f"{dag_id}.py").write_text(source)
    return load_dag(dag_id, folder)


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _xcom(run: Any, task_id: str) -> Any:
    (value,) = xcom_result(run, task_id)
    return value


def test_deploy_then_replace_with_templated_reasons(dag_folder: Path, models: RegisteredModels) -> None:
    dag = _dag(
        dag_folder,
        "deploy_ops",
        """
        create = DeployModelOperator(
            task_id="create", model={"model_id": "{{ params.first }}"}, label="{{ params.label }}"
        )
        replace = DeployModelOperator(
            task_id="replace",
            model="{{ params.second }}",
            label="unused when replacing",
            deployment_id=DEPLOYMENT_ID,
            reason="{{ params.reason }}",
        )
        back = ReplaceModelOperator(
            task_id="back",
            deployment_id=DEPLOYMENT_ID,
            model="{{ params.back_to }}",
            reason="{{ params.back_reason }}",
            details={"ticket": "{{ params.ticket }}", "run": "{{ run_id }}"},
        )
        create >> replace >> back
        """,
        {"label": "Churn EU", "reason": "ACCURACY", "ticket": "OPS-1", "first": models.churn_v1},
    )

    run = dag.test(
        run_conf={"second": models.churn_v2, "back_to": models.churn_v1, "back_reason": "SCHEDULED_REFRESH"}
    )
    assert str(run.state) == "success", _states(run)

    created = _xcom(run, "create")
    assert created == {"deployment_id": created["deployment_id"], "model_id": "churn/1", "action": "created"}
    assert _xcom(run, "replace") == {
        "deployment_id": created["deployment_id"],
        "model_id": "churn/2",
        "action": "replaced",
    }
    assert _xcom(run, "back") == {
        "deployment_id": created["deployment_id"],
        "old_model_id": "churn/2",
        "new_model_id": "churn/1",
        "reason": "SCHEDULED_REFRESH",
    }

    deployment = Deployment.get(created["deployment_id"])
    assert deployment.label == "Churn EU"
    assert deployment.model["id"] == "churn/1"
    actor = f"airflow:{dag.dag_id}/{run.run_id}"
    history = deployment.get_model_history()
    assert [(h["old_model_version"], h["new_model_version"], h["reason"], h["actor"]) for h in history] == [
        (None, "1", "INITIAL", actor),
        ("1", "2", "ACCURACY", actor),
        ("2", "1", "SCHEDULED_REFRESH", actor),
    ]
    assert history[-1]["details"] == {"model_id": "churn/1", "ticket": "OPS-1", "run": run.run_id}
    audit = deployment.get_audit_log()
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("create", actor),
        ("replace", actor),
        ("replace", actor),
    ]
    assert [e["after"]["reason"] for e in audit[1:]] == ["ACCURACY", "SCHEDULED_REFRESH"]


def test_replace_operator_refuses_a_failing_model_and_leaves_the_deployment_untouched(
    dag_folder: Path, models: RegisteredModels, capfd: pytest.CaptureFixture[str]
) -> None:
    deployment = Deployment.create_from_registered_model_version(
        models.churn_v1, "Churn", actor="alice", baseline={"v": 1}
    )
    before = (
        deployment.model,
        deployment.get_model_history(),
        deployment.get_audit_log(),
        deployment.updated_at,
    )

    dag = _dag(
        dag_folder,
        "replace_refused",
        """
        ReplaceModelOperator(
            task_id="replace",
            deployment_id="{{ params.deployment_id }}",
            model={"model_id": "{{ params.model }}"},
            reason="{{ params.reason }}",
        )
        """,
        {"deployment_id": deployment.id, "reason": "DATA_DRIFT", "model": models.churn_small},
    )
    run = dag.test()
    out, err = capfd.readouterr()  # the task's log
    assert str(run.state) == "failed"
    assert _states(run) == {"replace": "failed"}
    assert "features differ: missing from the new model ['internet_service', 'support_calls']" in out + err, (
        "the task failed for another reason than the validation"
    )

    fresh = Deployment.get(deployment.id)
    assert (fresh.model, fresh.get_model_history(), fresh.get_audit_log(), fresh.updated_at) == before
    assert fresh.get_baseline() == {"v": 1}


def test_replace_operator_refuses_an_unknown_reason(
    dag_folder: Path, models: RegisteredModels, capfd: pytest.CaptureFixture[str]
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "Churn")
    dag = _dag(
        dag_folder,
        "bad_reason",
        """
        ReplaceModelOperator(
            task_id="replace",
            deployment_id="{{ params.deployment_id }}",
            model="{{ params.model }}",
            reason="{{ params.get('reason', 'BORED') }}",
        )
        """,
        {"deployment_id": deployment.id, "model": models.churn_v2},
    )
    run = dag.test()
    out, err = capfd.readouterr()
    assert _states(run) == {"replace": "failed"}
    assert "reason='BORED' is not valid; expected one of 'ACCURACY'" in out + err
    assert Deployment.get(deployment.id).model["id"] == "churn/1"
    assert len(Deployment.get(deployment.id).get_model_history()) == 1


def test_operators_declare_their_templated_fields() -> None:
    assert {"deployment_id", "reason", "model", "deployment_label"} <= set(
        DeployModelOperator.template_fields
    )
    assert {"deployment_id", "reason", "model", "details"} <= set(ReplaceModelOperator.template_fields)
