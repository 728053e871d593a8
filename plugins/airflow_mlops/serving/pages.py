"""What a browser opens on the app: the static files, the API docs, and the way to a login.

* ``/static/…`` serves ``serving/static/`` (package data, so a wheel carries it): the
  console's bundle (``static/console/main.umd.js``, built from ``ui/``) that the Airflow UI
  loads as a plugin React app, its nav icons, and Swagger UI's files.
* ``/docs`` is Swagger UI on those vendored files (``static/swagger/README.md`` says which
  version), not on FastAPI's CDN defaults, so it renders on a machine without internet.
  There is no ReDoc page: it too would load from a CDN.
* Login: inside Airflow (``login_url`` given) the docs need an Airflow login or a token,
  like everything else there, and a browser without one is sent to Airflow's login page
  with ``next`` pointing back; a script (no ``text/html`` in ``Accept``) still gets the
  JSON 401 every API route answers. The standalone server has no login page, so there
  the docs stay open, as before. Static files are open in both: they hold no data, and
  the Airflow UI loads the bundle and icons before it knows who is logged in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from airflow_mlops.api.auth import authenticate
from airflow_mlops.security import AuthError

__all__ = ["STATIC_DIR", "LoginUrl", "install_pages", "wants_html"]

STATIC_DIR = Path(__file__).with_name("static")

#: Given where the browser was going (a path on this host), the login page's URL to send it to.
LoginUrl = Callable[[str], str]

SWAGGER_JS = "/static/swagger/swagger-ui-bundle.js"
SWAGGER_CSS = "/static/swagger/swagger-ui.css"
FAVICON = "/static/icon.svg"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def wants_html(request: Request) -> bool:
    """A browser navigating (a GET that accepts HTML), rather than a script or ``fetch`` asking for JSON."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _here(request: Request) -> str:
    """The path (and query) the browser asked for, as seen from the host: the ``next`` of a login.

    Relative, so Airflow's ``is_safe_url`` accepts it whatever host name the browser used; a
    mounted app's ``url.path`` includes the mount prefix (``/mlops/docs``).
    """
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def install_pages(app: FastAPI, *, login_url: LoginUrl | None = None) -> None:
    """Mount ``/static`` and add ``/docs`` to ``app`` (built with ``docs_url=None, redoc_url=None``)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    async def login_needed(request: Request) -> Response | None:
        """``None`` when the page may be shown; else the redirect to the login (or AuthError: JSON 401)."""
        if login_url is None:
            return None
        try:
            await authenticate(request, request.app.state.authenticators)
        except AuthError:
            if not wants_html(request):
                raise
            return RedirectResponse(login_url(_here(request)), status_code=307)
        return None

    @app.get("/docs", include_in_schema=False, response_model=None)
    async def swagger_ui(request: Request) -> Response:
        redirect = await login_needed(request)
        if redirect is not None:
            return redirect
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=root + SWAGGER_JS,
            swagger_css_url=root + SWAGGER_CSS,
            swagger_favicon_url=root + FAVICON,
            oauth2_redirect_url=root + OAUTH2_REDIRECT,
            # The default validator badge loads an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
