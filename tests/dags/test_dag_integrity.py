"""Every DAG imports cleanly, touches no database or connection at parse time, and is documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {
    "mlops_train",
    "mlops_monitor",
    "mlops_retrain",
    "mlops_ingest",
    "mlops_batch_score",
    "mlops_refresh",
    "mlops_project",
}

PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "tags": sorted(dag.tags),
        "owners": sorted({t.owner for t in dag.tasks}),
        "params": {k: {"description": p.description, "schema": p.schema} for k, p in dag.params.items()},
        "doc": dag.doc_md,
        "tasks": len(dag.tasks),
    }
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Parse the DAG folder in a process whose databases and servers all point nowhere.

    The metadata DB is a path in a directory that does not exist, the MLOps store
    and MLflow are unreachable ports: any parse-time lookup fails the import.
    """
    nowhere = tmp_path_factory.mktemp("nowhere") / "missing" / "airflow.db"
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{nowhere}",
            "MLOPS_STORE_URL": "postgresql://nobody@127.0.0.1:1/nothing",
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:1",
        }
    )
    proc = subprocess.run(
        [sys.executable, "-c", PARSE, str(DAGS)], env=env, capture_output=True, text=True, timeout=300
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, f"DAG parsing crashed:\n{proc.stderr[-4000:]}"
    return json.loads(line[len("RESULT") :])


def test_dags_import_without_errors(parsed: dict) -> None:
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_tags_owner_doc(parsed: dict, dag_id: str) -> None:
    dag = parsed["dags"][dag_id]
    assert dag["tags"], f"{dag_id} has no tags"
    assert dag["owners"] and "airflow" not in dag["owners"], f"{dag_id} owners: {dag['owners']}"
    assert dag["doc"], f"{dag_id} has no doc_md"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_every_param_is_typed_and_described(parsed: dict, dag_id: str) -> None:
    params = parsed["dags"][dag_id]["params"]
    assert params, f"{dag_id} has no Params for the trigger form"
    for name, param in params.items():
        assert param["description"], f"{dag_id}.{name} has no description"
        assert "type" in param["schema"] or "enum" in param["schema"], f"{dag_id}.{name} has no type"
