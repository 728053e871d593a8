"""IngestOperator: a connection's engine is disposed when the task ends, snapshots become Asset events, the DAG runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_mlops.datasets import load_snapshot, make_churn
from airflow_mlops.operators import DATASETS_ALIAS, IngestOperator, dataset_asset
from airflow_mlops.operators.ingest import contract_dirs

if TYPE_CHECKING:
    from conftest import EngineWatch


class _Announced:
    """Stands in for one outlet's events in the task context: records what the operator announces."""

    def __init__(self) -> None:
        self.added: list[tuple[object, dict[str, object]]] = []

    def add(self, asset: object, extra: dict[str, object]) -> None:
        self.added.append((asset, extra))


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite warehouse with a customers table, as the Airflow connection ``warehouse``."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "mlops"))
    monkeypatch.setenv("MLOPS_CONTRACTS_DIR", str(tmp_path / "no-contracts"))
    db = tmp_path / "warehouse.db"
    make_churn(300, seed=2).drop(columns=["event_time"]).to_sql("customers", f"sqlite:///{db}", index=False)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f'{{"conn_type": "sqlite", "host": "{db}"}}')
    return db


def test_the_engine_of_a_connection_is_disposed_when_the_task_ends(
    warehouse: Path, watch_engines: Callable[[Path], EngineWatch]
) -> None:
    watch = watch_engines(warehouse)
    events: defaultdict[object, _Announced] = defaultdict(_Announced)
    task = IngestOperator(
        task_id="ingest", conn_id="warehouse", table="customers", dataset="w", target="churned"
    )
    result = task.execute({"outlet_events": events})  # type: ignore[arg-type]
    assert result["n_train"] + result["n_holdout"] == 300
    assert [asset for asset, _ in events[DATASETS_ALIAS].added] == [dataset_asset("w")]
    assert watch.engines, "the operator read the table through an engine"
    assert watch.left_open() == []


def test_the_engine_of_a_connection_is_disposed_when_the_task_fails(
    warehouse: Path, watch_engines: Callable[[Path], EngineWatch]
) -> None:
    watch = watch_engines(warehouse)
    task = IngestOperator(
        task_id="ingest", conn_id="warehouse", table="customers", dataset="w", target="absent"
    )
    with pytest.raises(ValueError, match="absent"):
        task.execute({"outlet_events": defaultdict(_Announced)})  # type: ignore[arg-type]
    assert watch.engines, "the operator read the table through an engine before failing"
    assert watch.left_open() == []


def test_operator_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    task = IngestOperator(task_id="ingest", source="{{ params.source }}", dataset="d", target="y")
    assert task.outlets == [DATASETS_ALIAS]
    assert {"source", "conn_id", "table", "dataset", "target", "policy"} <= set(task.template_fields)
    assert dataset_asset("churn").uri == "mlops://datasets/churn"
    monkeypatch.setenv("MLOPS_CONTRACTS_DIR", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert contract_dirs() == [tmp_path / "a", tmp_path / "b"]


@pytest.fixture
def home(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MLOPS_HOME (the default allowed root) for a DAG run through dag.test()."""
    home = tmp_path / "mlops"
    (home / "data").mkdir(parents=True)
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.delenv("MLOPS_ALLOWED_ROOTS", raising=False)
    monkeypatch.setenv("MLOPS_CONTRACTS_DIR", str(tmp_path / "no-contracts"))
    return home


def test_mlops_ingest_dag_snapshots_a_file_and_emits_an_asset_event(home: Path) -> None:
    from airflow_mlops.config import get_settings
    from airflow_mlops.dag_runs import asset_events, run_dag, xcom_result

    source = home / "data" / "churn.csv"
    make_churn(500, seed=1).to_csv(source, index=False)
    started = datetime.now(UTC)
    run = run_dag(
        "mlops_ingest",
        {"source": str(source), "dataset": "dag-churn", "target": "churned", "key": "customer_id", "seed": 3},
    )
    (result,) = xcom_result(run, "ingest")
    snapshot = load_snapshot(get_settings().snapshots_dir, "dag-churn")
    assert result["dataset"] == "dag-churn" and result["version"] == snapshot.version
    assert (result["n_train"], result["n_holdout"]) == (snapshot.n_train, snapshot.n_holdout)
    assert snapshot.meta()["seed"] == 3 and snapshot.meta()["key"] == ["customer_id"]
    events = asset_events("mlops://datasets/dag-churn", since=started)
    assert events == [
        {
            "dataset": "dag-churn",
            "version": snapshot.version,
            "n_train": snapshot.n_train,
            "n_holdout": snapshot.n_holdout,
            "n_quarantined": 0,
        }
    ]


def test_mlops_ingest_dag_reads_a_table_through_a_connection(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlops.dag_runs import run_dag, xcom_result

    db = home / "data" / "warehouse.db"
    make_churn(300, seed=2).drop(columns=["event_time"]).to_sql("customers", f"sqlite:///{db}", index=False)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f'{{"conn_type": "sqlite", "host": "{db}"}}')
    run = run_dag(
        "mlops_ingest",
        {
            "source": "",
            "conn_id": "warehouse",
            "table": "customers",
            "dataset": "dag-sql",
            "target": "churned",
            "policy": "quarantine",
        },
    )
    (result,) = xcom_result(run, "ingest")
    assert result["n_train"] + result["n_holdout"] == 300
    assert result["task"] == "binary"
