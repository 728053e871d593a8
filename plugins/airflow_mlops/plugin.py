"""The Airflow plugin: mounts the MLOps app in the Airflow API server and adds a nav link.

Registered through the ``airflow.plugins`` entry point. Airflow does not put its
authentication in front of plugin apps; the management routes are read-only in
this version and predictions are open on the embedded default (see README).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_mlops.serving.app import create_app

URL_PREFIX = "/mlops"


class MLOpsPlugin(AirflowPlugin):
    name = "airflow_mlops"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "airflow-mlops"}]
    external_views = [
        {
            "name": "Deployments",
            "href": f"{URL_PREFIX}/ui/deployments",
            "destination": "nav",
            "url_route": "mlops-deployments",
        }
    ]
