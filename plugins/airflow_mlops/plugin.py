"""The Airflow plugin: mounts the MLOps app in the Airflow API server and adds the console to the nav.

Registered through the ``airflow.plugins`` entry point. Airflow puts no
authentication in front of plugin apps, so the mounted app accepts either an
API token or the caller's Airflow login (the JWT that the Airflow UI keeps in
its ``_token`` cookie, or sends as a bearer token); an Airflow user allowed to
change Airflow's configuration counts as an administrator. A browser that opens
one of the app's pages without a login is sent to Airflow's login page.

The console is a ``react_apps`` entry (Airflow >= 3.1): the Airflow UI loads the
bundle the mounted app serves from its package data and renders it under
``/plugin/mlops``, inside its own layout, theme and session.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api.auth import bearer_token
from airflow_mlops.operators.projects import AirflowDagRunner
from airflow_mlops.security import AuthError, Principal
from airflow_mlops.security.tokens import PREFIX
from airflow_mlops.services.project_runners import register_runner
from airflow_mlops.serving.app import create_app

URL_PREFIX = "/mlops"
AIRFLOW_COOKIE = "_token"

# Inside Airflow, a project's sweep is a run of the mlops_project DAG (MLOPS_PROJECT_RUNNER=local: a
# child process of the API server, as under `airflow-mlops serve`).
register_runner(AirflowDagRunner(), replace=True)


def airflow_login_url(next_url: str) -> str:
    """Airflow's login page, whichever auth manager is configured, coming back to ``next_url``."""
    from airflow.api_fastapi.app import get_auth_manager

    return str(get_auth_manager().get_url_login(next_url=next_url))


async def airflow_user(request: Request) -> Principal | None:
    """The logged-in Airflow user behind a request, if it carries an Airflow JWT."""
    token = bearer_token(request) or request.cookies.get(AIRFLOW_COOKIE)
    if not token or token.startswith(PREFIX):
        return None
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    try:
        user = await manager.get_user_from_token(token)
    except Exception as exc:  # expired or forged JWTs raise several jwt exception types
        raise AuthError(f"the Airflow login is not valid: {exc}") from exc
    is_admin = await run_in_threadpool(manager.is_authorized_configuration, method="PUT", user=user)
    return Principal(name=user.get_name(), is_admin=bool(is_admin), via="airflow")


class MLOpsPlugin(AirflowPlugin):
    name = "airflow_mlops"
    fastapi_apps = [
        {
            "app": create_app(
                authenticators=[airflow_user],
                login_url=airflow_login_url,
                project_runner=AirflowDagRunner.name,
            ),
            "url_prefix": URL_PREFIX,
            "name": "airflow-mlops",
        }
    ]
    react_apps = [
        {
            # The host takes globalThis[name] from the bundle: the console exports itself as "MLOps".
            "name": "MLOps",
            "bundle_url": f"{URL_PREFIX}/static/console/main.umd.js",
            "destination": "nav",
            "url_route": "mlops",
            "icon": f"{URL_PREFIX}/static/icon.svg",
            "icon_dark_mode": f"{URL_PREFIX}/static/icon-dark.svg",
        }
    ]
