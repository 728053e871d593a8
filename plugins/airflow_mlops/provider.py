"""Provider metadata, found by Airflow through the ``apache_airflow_provider`` entry point.

It names no plugin: the plugin is registered once, through the ``airflow.plugins``
entry point. Declaring it here too made Airflow load it twice and show
"Plugin 'airflow_mlops' already registered" as a plugin import error in the UI.

The connection types make the MLflow server and the MLOps store choices in
Airflow's Connections form. Their form fields are declared here (Airflow 3.2's
``conn-fields``/``ui-field-behaviour``), so the UI needs no hook import to draw them.
"""

from __future__ import annotations

from typing import Any

_TEXT = {"type": ["string", "null"]}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-mlops",
        "name": "airflow-mlops",
        "description": "Model lifecycle operators: ingest, AutoML sweep, register, deploy, monitor, replace.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "connection-type": "mlflow",
                "hook-class-name": "airflow_mlops.hooks.mlflow.MlflowTrackingHook",
                "hook-name": "MLflow tracking server",
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {
                        "schema": "Scheme (http or https)",
                        "login": "Username (MLFLOW_TRACKING_USERNAME)",
                        "password": "Password (MLFLOW_TRACKING_PASSWORD)",
                    },
                    "placeholders": {"host": "mlflow.example.com", "port": "5000", "schema": "https"},
                },
                "conn-fields": {
                    "tracking_uri": {
                        "label": "Tracking URI (instead of host, port and scheme)",
                        "description": "Any MLFLOW_TRACKING_URI value, e.g. sqlite:////data/mlflow.db",
                        "schema": _TEXT,
                    },
                    "registry_uri": {
                        "label": "Registry URI (empty: the tracking URI)",
                        "schema": _TEXT,
                    },
                },
            },
            {
                "connection-type": "mlops_store",
                "hook-class-name": "airflow_mlops.hooks.store.MlopsStoreHook",
                "hook-name": "MLOps store (SQLAlchemy)",
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {"schema": "Database"},
                    "placeholders": {"host": "postgres.example.com", "port": "5432", "schema": "mlops"},
                },
                "conn-fields": {
                    "sqlalchemy_driver": {
                        "label": "SQLAlchemy driver (empty: postgresql+psycopg2)",
                        "schema": _TEXT,
                    },
                    "sqlalchemy_url": {
                        "label": "SQLAlchemy URL (instead of the fields above)",
                        "schema": _TEXT,
                    },
                },
            },
        ],
    }
