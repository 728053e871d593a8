"""Airflow hooks: what turns an Airflow connection into something the core packages can use.

They sit at the operators' layer (they import Airflow); the packages below
them take plain values (a SQLAlchemy URL or engine) and never see a connection.
"""

from __future__ import annotations

from airflow_mlops.hooks.sql import SQLALCHEMY_DRIVERS, SqlSourceHook

__all__ = ["SQLALCHEMY_DRIVERS", "SqlSourceHook"]
