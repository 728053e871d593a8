"""MlflowTrackingHook: an Airflow connection's fields become MLflow's tracking URI, registry and credentials."""

from __future__ import annotations

import json

import pytest

from airflow_mlops.hooks import MlflowTrackingHook


def _hook(monkeypatch: pytest.MonkeyPatch, value: object) -> MlflowTrackingHook:
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", value if isinstance(value, str) else json.dumps(value))
    return MlflowTrackingHook()


@pytest.mark.parametrize(
    ("connection", "uri"),
    [
        ({"conn_type": "mlflow", "host": "mlflow.internal", "port": 5000}, "http://mlflow.internal:5000"),
        (
            {"conn_type": "mlflow", "host": "mlflow.example.com", "schema": "https"},
            "https://mlflow.example.com",
        ),
        (
            {"conn_type": "http", "host": "https://mlflow.example.com/team-a", "port": 8443},
            "https://mlflow.example.com:8443/team-a",
        ),
        ("mlflow://mlflow.internal:5000/https", "https://mlflow.internal:5000"),
        (
            {
                "conn_type": "mlflow",
                "host": "ignored",
                "extra": {"tracking_uri": "sqlite:////data/mlflow.db"},
            },
            "sqlite:////data/mlflow.db",
        ),
        ({"conn_type": "sqlite", "host": "/data/mlflow.db"}, "sqlite:////data/mlflow.db"),
        (
            {"conn_type": "postgres", "host": "db", "login": "u", "password": "p@ss", "schema": "mlflow"},
            "postgresql+psycopg2://u:p%40ss@db/mlflow",
        ),
    ],
)
def test_the_connection_becomes_a_tracking_uri(
    monkeypatch: pytest.MonkeyPatch, connection: object, uri: str
) -> None:
    assert _hook(monkeypatch, connection).get_tracking_uri() == uri


def test_the_registry_is_the_tracking_store_unless_the_extra_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _hook(monkeypatch, {"conn_type": "mlflow", "host": "h"}).get_registry_uri() is None
    hook = _hook(
        monkeypatch, {"conn_type": "mlflow", "host": "h", "extra": {"registry_uri": "sqlite:///r.db"}}
    )
    assert hook.get_registry_uri() == "sqlite:///r.db"


def test_login_and_password_become_mlflow_credentials_but_not_for_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = _hook(monkeypatch, "mlflow://alice:s3cret-pass@mlflow.internal:5000")
    assert server.get_credentials() == {
        "MLFLOW_TRACKING_USERNAME": "alice",
        "MLFLOW_TRACKING_PASSWORD": "s3cret-pass",
    }
    database = _hook(
        monkeypatch, {"conn_type": "postgres", "host": "db", "login": "u", "password": "pw-long"}
    )
    assert database.get_credentials() == {}, "a database URL carries its own login"


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ({"conn_type": "mlflow", "port": 5000}, r"connection 'mlflow_default' \(type 'mlflow'\) has no host"),
        (
            {"conn_type": "mlflow", "host": "h", "schema": "ftp"},
            r"connection 'mlflow_default': schema names the scheme 'ftp'.*expected one of \['http', 'https'\]",
        ),
        (
            {"conn_type": "mlflow", "host": "h", "extra": {"tracking_uri": 5000}},
            r"connection 'mlflow_default': extra.tracking_uri must be a URI as text, got 5000",
        ),
    ],
)
def test_a_malformed_connection_names_itself_and_the_field(
    monkeypatch: pytest.MonkeyPatch, connection: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _hook(monkeypatch, connection).get_tracking_uri()
