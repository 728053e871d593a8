"""The ``airflow-mlops`` console script, run as a user runs it: a subprocess with its own MLOPS_HOME."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from airflow_mlops.store.engine import alembic_config

CLI = Path(sys.executable).with_name("airflow-mlops")
STORE_TABLES = {
    "deployments",
    "model_history",
    "baselines",
    "folded_files",
    "service_buckets",
    "drift_hours",
    "drift_days",
    "health_history",
}


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The test session's environment without anything pointing Airflow, MLflow or the store elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "MLFLOW_", "MLOPS_"))
    }
    env["MLOPS_HOME"] = str(home)
    env.update(extra)
    return env


def _run(
    args: list[str], home: Path, cwd: Path, timeout: float = 60, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        env=_env(home, **extra),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _store_revision(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(revision)


def _head(db: Path) -> str:
    head = ScriptDirectory.from_config(alembic_config(f"sqlite:///{db}")).get_current_head()
    assert head
    return head


def test_env_prints_exports_a_shell_can_eval(tmp_path: Path) -> None:
    home = tmp_path / "my home"  # a space, so quoting matters
    project = tmp_path / "project"
    project.mkdir()

    done = _run(["env"], home, project)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "export MLOPS_HOME",
        "export AIRFLOW_HOME",
        "export AIRFLOW__CORE__DAGS_FOLDER",
        "export AIRFLOW__CORE__PLUGINS_FOLDER",
        "export AIRFLOW__CORE__LOAD_EXAMPLES",
        "export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
        "export AIRFLOW__CORE__PARALLELISM",
        "export AIRFLOW__API__HOST",
        "export AIRFLOW__API__WORKERS",
    ]
    shell = subprocess.run(
        [
            "bash",
            "-c",
            done.stdout + '\nprintf "%s\\n" "$MLOPS_HOME" "$AIRFLOW_HOME" '
            '"$AIRFLOW__CORE__DAGS_FOLDER" "$AIRFLOW__CORE__PLUGINS_FOLDER" '
            '"$AIRFLOW__CORE__LOAD_EXAMPLES"',
        ],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.splitlines() == [
        str(home),
        str(home / "airflow"),
        str(project / "dags"),
        str(home / "airflow" / "plugins"),
        "False",
    ]
    assert not home.exists()  # printing exports creates nothing


def test_env_keeps_values_already_set(tmp_path: Path) -> None:
    done = _run(
        ["env"],
        tmp_path / "home",
        tmp_path,
        AIRFLOW_HOME="/opt/airflow",
        MLFLOW_TRACKING_URI="http://mlflow:5000",
    )

    assert done.returncode == 0, done.stderr
    assert "export AIRFLOW_HOME=/opt/airflow\n" in done.stdout
    assert "export MLFLOW_TRACKING_URI=http://mlflow:5000\n" in done.stdout
    assert f"export MLOPS_HOME={tmp_path / 'home'}\n" in done.stdout


def test_migrate_creates_a_migrated_store_in_a_fresh_home(tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "home"  # nothing exists yet

    first = _run(["migrate"], home, tmp_path)
    assert first.returncode == 0, first.stderr
    again = _run(["migrate"], home, tmp_path)
    assert again.returncode == 0, again.stderr

    db = home / "mlops.db"
    assert _tables(db) >= STORE_TABLES | {"alembic_version"}
    assert _store_revision(db) == _head(db)


def test_store_url_override_is_honoured(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "store.db"

    done = _run(["migrate"], tmp_path / "home", tmp_path, MLOPS_STORE_URL=f"sqlite:///{elsewhere}")

    assert done.returncode == 0, done.stderr
    assert _tables(elsewhere) >= STORE_TABLES
    assert not (tmp_path / "home" / "mlops.db").exists()


def test_init_creates_the_store_mlflow_and_airflow_databases(tmp_path: Path) -> None:
    home = tmp_path / "home"

    done = _run(["init"], home, tmp_path, timeout=180)

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith(f"MLOPS_HOME ready at {home}")
    assert _store_revision(home / "mlops.db") == _head(home / "mlops.db")
    assert "experiments" in _tables(home / "mlflow.db")
    airflow_db = home / "airflow" / "airflow.db"  # AIRFLOW_HOME derived from MLOPS_HOME
    assert {"dag", "dag_run", "alembic_version"} <= _tables(airflow_db)
    for sub in ("snapshots", "predictions", "studies", "reports"):
        assert (home / sub).is_dir()


def test_a_command_is_required(tmp_path: Path) -> None:
    done = _run([], tmp_path / "home", tmp_path)
    assert done.returncode == 2
    assert "init" in done.stderr and "migrate" in done.stderr and "env" in done.stderr
