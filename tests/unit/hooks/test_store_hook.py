"""MlopsStoreHook: a database connection becomes the MLOps store's SQLAlchemy URL."""

from __future__ import annotations

import json

import pytest

from airflow_mlops.hooks import MlopsStoreHook


def _hook(monkeypatch: pytest.MonkeyPatch, **fields: object) -> MlopsStoreHook:
    monkeypatch.setenv("AIRFLOW_CONN_MLOPS_STORE_DEFAULT", json.dumps(fields))
    return MlopsStoreHook()


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
                "schema": "mlops",
            },
            "postgresql+psycopg2://u:p%40ss@db:5433/mlops",
        ),
        ({"conn_type": "mlops_store", "host": "db", "schema": "mlops"}, "postgresql+psycopg2://db/mlops"),
        (
            {"conn_type": "mlops_store", "host": "/data/mlops.db", "extra": {"sqlalchemy_driver": "sqlite"}},
            "sqlite:////data/mlops.db",
        ),
        ({"conn_type": "sqlite", "host": "/data/mlops.db"}, "sqlite:////data/mlops.db"),
        ({"conn_type": "generic", "extra": {"sqlalchemy_url": "sqlite:////x/m.db"}}, "sqlite:////x/m.db"),
    ],
)
def test_the_connection_becomes_the_store_url(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, object], url: str
) -> None:
    assert _hook(monkeypatch, **fields).get_store_url() == url


def test_a_sqlite_store_without_a_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ValueError, match=r"connection 'mlops_store_default' is a SQLite store without a database file"
    ):
        _hook(monkeypatch, conn_type="sqlite").get_store_url()


def test_an_unknown_type_names_the_connection_and_the_known_types(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"connection 'mlops_store_default' has type 'http'.*'mlops_store'"):
        _hook(monkeypatch, conn_type="http", host="h").get_store_url()
