"""Provider metadata, found by Airflow through the ``apache_airflow_provider`` entry point.

It names no plugin: the plugin is registered once, through the ``airflow.plugins``
entry point. Declaring it here too made Airflow load it twice and show
"Plugin 'airflow_mlops' already registered" as a plugin import error in the UI.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-mlops",
        "name": "airflow-mlops",
        "description": "Model lifecycle operators: ingest, AutoML sweep, register, deploy, monitor, replace.",
        "versions": ["0.1.0"],
    }
