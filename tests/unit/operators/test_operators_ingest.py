"""IngestOperator: Airflow connections become engines, snapshots become Asset events, the DAG runs."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_mlops.datasets import load_snapshot, make_churn
from airflow_mlops.operators import DATASETS_ALIAS, IngestOperator, dataset_asset
from airflow_mlops.operators.ingest import connection_url, contract_dirs, sqlalchemy_engine


def _connection(**fields: object) -> object:
    from airflow.sdk import Connection

    return Connection(conn_id="c", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        (
            {
                "conn_type": "postgres",
                "host": "db",
                "login": "u",
                "password": "p@ss",
                "port": 5433,
                "schema": "w",
            },
            "postgresql+psycopg2://u:p%40ss@db:5433/w",
        ),
        ({"conn_type": "sqlite", "host": "/data/w.db"}, "sqlite:////data/w.db"),
        ({"conn_type": "sqlite", "schema": "/data/w.db"}, "sqlite:////data/w.db"),
        ({"conn_type": "generic", "extra": '{"sqlalchemy_url": "duckdb:///x.db"}'}, "duckdb:///x.db"),
    ],
)
def test_connection_fields_become_a_sqlalchemy_url(fields: dict[str, object], url: str) -> None:
    assert connection_url(_connection(**fields), "c").render_as_string(hide_password=False) == url


def test_unknown_connection_type_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"connection 'c' has type 'http'.*expected one of \['mssql'"):
        connection_url(_connection(conn_type="http", host="x"), "c")


def test_connection_id_from_the_environment_reads_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (41)")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f'{{"conn_type": "sqlite", "host": "{db}"}}')
    engine = sqlalchemy_engine("warehouse")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT x + 1 FROM t").scalar() == 42
    finally:
        engine.dispose()


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
