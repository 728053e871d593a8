"""Provider metadata, found by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-mlops",
        "name": "airflow-mlops",
        "description": "Model lifecycle operators: ingest, AutoML sweep, register, deploy, monitor, replace.",
        "versions": ["0.1.0"],
        "plugins": [{"name": "airflow_mlops", "plugin-class": "airflow_mlops.plugin.MLOpsPlugin"}],
    }
