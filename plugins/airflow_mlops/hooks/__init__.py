"""Airflow hooks: what turns an Airflow connection into something the core packages can use.

They sit at the operators' layer (they import Airflow); the packages below
them take plain values (a SQLAlchemy URL or engine, settings read from the
environment) and never see a connection.
"""

from __future__ import annotations

from airflow_mlops.hooks.base import ConnectionHook
from airflow_mlops.hooks.connections import MLFLOW_CONN_ID, STORE_CONN_ID, apply_connections
from airflow_mlops.hooks.mlflow import MlflowTrackingHook
from airflow_mlops.hooks.sql import SQLALCHEMY_DRIVERS, SqlSourceHook, sqlalchemy_url
from airflow_mlops.hooks.store import MlopsStoreHook

__all__ = [
    "MLFLOW_CONN_ID",
    "SQLALCHEMY_DRIVERS",
    "STORE_CONN_ID",
    "ConnectionHook",
    "MlflowTrackingHook",
    "MlopsStoreHook",
    "SqlSourceHook",
    "apply_connections",
    "sqlalchemy_url",
]
