"""apply_connections: connections give the MLflow server and the store to a task; the environment wins.

The settings are read where the core reads them, through ``get_settings()``
inside an operator's ``execute``, with real Airflow connections given as
``AIRFLOW_CONN_<ID>`` variables (JSON and URI forms).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseOperator, Context

import airflow_mlops.operators as operators
import airflow_mlops.operators.serving  # noqa: F401 - BatchScoreOperator is not re-exported
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.hooks import apply_connections


class _SettingsSeen(BaseOperator):
    """Does what every operator does first, then returns the settings its work would use."""

    def execute(self, context: Context) -> Settings:
        apply_connections(self.log)
        return get_settings()


def _seen() -> Settings:
    return _SettingsSeen(task_id="probe").execute({})  # type: ignore[arg-type]


def _connections(monkeypatch: pytest.MonkeyPatch, *, mlflow: Any = None, store: Any = None) -> None:
    for name, value in (("AIRFLOW_CONN_MLFLOW_DEFAULT", mlflow), ("AIRFLOW_CONN_MLOPS_STORE_DEFAULT", store)):
        if value is not None:
            monkeypatch.setenv(name, value if isinstance(value, str) else json.dumps(value))


def test_connections_alone_set_what_get_settings_sees_inside_execute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _connections(
        monkeypatch,
        mlflow={
            "conn_type": "mlflow",
            "host": "mlflow.internal",
            "port": 5000,
            "login": "alice",
            "password": "s3cret-pass",
            "extra": {"registry_uri": f"sqlite:///{tmp_path / 'registry.db'}"},
        },
        store=f"sqlite:///{tmp_path / 'store.db'}",  # the URI form: the path lands in the connection's schema
    )
    settings = _seen()
    assert settings.mlflow_tracking_uri == "http://mlflow.internal:5000"
    assert settings.mlflow_registry_uri == f"sqlite:///{tmp_path / 'registry.db'}"
    assert settings.store_url == f"sqlite:///{tmp_path / 'store.db'}"
    assert settings.mlflow_artifact_root is None, "an MLflow server decides where artifacts go"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret-pass"


def test_the_environment_wins_over_a_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _connections(
        monkeypatch,
        mlflow={"conn_type": "mlflow", "host": "conn-mlflow", "login": "alice", "password": "s3cret-pass"},
        store={"conn_type": "sqlite", "host": str(tmp_path / "conn-store.db")},
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env-mlflow:5000")
    monkeypatch.setenv("MLOPS_STORE_URL", f"sqlite:///{tmp_path / 'env-store.db'}")
    sources = apply_connections()
    settings = get_settings()
    assert settings.mlflow_tracking_uri == "http://env-mlflow:5000"
    assert settings.store_url == f"sqlite:///{tmp_path / 'env-store.db'}"
    assert sources["MLFLOW_TRACKING_URI"] == sources["MLOPS_STORE_URL"] == "the environment"
    assert "MLFLOW_TRACKING_USERNAME" not in os.environ, (
        "the connection's login is not sent to another server"
    )


def test_each_variable_is_resolved_on_its_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _connections(
        monkeypatch,
        mlflow={
            "conn_type": "mlflow",
            "host": "conn-mlflow",
            "extra": {"registry_uri": "sqlite:///conn-r.db"},
        },
        store={"conn_type": "sqlite", "host": str(tmp_path / "conn-store.db")},
    )
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///env-r.db")
    monkeypatch.setenv("MLOPS_STORE_URL", f"sqlite:///{tmp_path / 'env-store.db'}")
    settings = _seen()
    assert settings.mlflow_tracking_uri == "http://conn-mlflow"
    assert settings.mlflow_registry_uri == "sqlite:///env-r.db"
    assert settings.store_url == f"sqlite:///{tmp_path / 'env-store.db'}"


def test_without_connections_the_defaults_stay(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    sources = apply_connections()
    settings = get_settings()
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    assert settings.store_url == f"sqlite:///{tmp_path / 'home' / 'mlops.db'}"
    assert sources == {
        "MLFLOW_TRACKING_URI": "the default",
        "MLFLOW_REGISTRY_URI": "the default (the tracking URI)",
        "MLOPS_STORE_URL": "the default",
    }


@pytest.mark.parametrize(
    ("mlflow", "store", "message"),
    [
        (
            '{"conn_type": "mlflow", "host": ',
            None,
            r"connection 'mlflow_default': AIRFLOW_CONN_MLFLOW_DEFAULT is set but Airflow cannot read it",
        ),
        (
            {"conn_type": "mlflow", "port": 5000},
            None,
            r"connection 'mlflow_default' \(type 'mlflow'\) has no host",
        ),
        (
            {"conn_type": "mlflow", "host": "fine"},
            {"conn_type": "sqlite"},
            r"connection 'mlops_store_default' is a SQLite store without a database file",
        ),
    ],
)
def test_a_malformed_connection_is_an_error_naming_it_and_nothing_is_exported(
    monkeypatch: pytest.MonkeyPatch, mlflow: Any, store: Any, message: str
) -> None:
    _connections(monkeypatch, mlflow=mlflow, store=store)
    with pytest.raises(ValueError, match=message):
        _seen()
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLOPS_STORE_URL" not in os.environ


def test_a_connection_shadowed_by_the_environment_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    _connections(monkeypatch, mlflow={"conn_type": "mlflow", "port": 5000})  # no host: unusable
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env-mlflow:5000")
    assert apply_connections()["MLFLOW_TRACKING_URI"] == "the environment"


def test_a_later_task_in_the_same_process_sees_a_changed_or_removed_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under ``dag.test()`` tasks share a process: the previous task's exports must not pose as the environment."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    _connections(monkeypatch, mlflow={"conn_type": "mlflow", "host": "first", "login": "alice"})
    assert _seen().mlflow_tracking_uri == "http://first"
    _connections(monkeypatch, mlflow={"conn_type": "mlflow", "host": "second"})
    assert apply_connections()["MLFLOW_TRACKING_URI"] == "connection 'mlflow_default'"
    assert get_settings().mlflow_tracking_uri == "http://second"
    assert "MLFLOW_TRACKING_USERNAME" not in os.environ, "the first connection's login went with it"
    monkeypatch.delenv("AIRFLOW_CONN_MLFLOW_DEFAULT")
    assert _seen().mlflow_tracking_uri == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"


def test_the_log_line_names_each_source_and_no_value(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _connections(monkeypatch, mlflow="mlflow://alice:s3cret-pass@mlflow.internal:5000")
    monkeypatch.setenv("MLOPS_STORE_URL", "postgresql://u:store-pass@db/mlops")
    with caplog.at_level(logging.INFO, logger="probe"):
        apply_connections(logging.getLogger("probe"))
    [line] = [r.getMessage() for r in caplog.records if r.name == "probe"]
    assert "MLFLOW_TRACKING_URI from connection 'mlflow_default'" in line
    assert "MLFLOW_TRACKING_PASSWORD from connection 'mlflow_default'" in line
    assert "MLOPS_STORE_URL from the environment" in line
    assert "s3cret-pass" not in line and "store-pass" not in line and "mlflow.internal" not in line


def test_every_operator_applies_the_connections_in_execute() -> None:
    """A new operator that forgot the call would read the defaults where the user gave connections."""
    classes = {
        cls
        for _, module in inspect.getmembers(operators, inspect.ismodule)
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, BaseOperator)
        and cls.__module__.startswith("airflow_mlops.")
        and cls.execute is not BaseOperator.execute
    }
    assert {"BatchScoreOperator", "IngestOperator", "SweepWorkerOperator"} <= {c.__name__ for c in classes}
    missing = [
        c.__name__ for c in classes if "apply_connections" not in inspect.unwrap(c.execute).__code__.co_names
    ]
    assert missing == []
