"""Print the app's OpenAPI document, as committed in ``docs/openapi.json``.

It lives in ``serving`` because the document is the whole app's (predictions
and the mounted ``api`` routers); ``api`` never imports ``serving``.

Regenerate the committed copy after changing a route or a schema::

    .venv/bin/python -m airflow_mlops.serving.openapi > docs/openapi.json

A test compares the document the app serves with that file, so CI notices an
API change that was not written down.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from airflow_mlops.serving.app import create_app

REGENERATE = ".venv/bin/python -m airflow_mlops.serving.openapi > docs/openapi.json"


def document() -> dict[str, Any]:
    """The OpenAPI document of the app as ``create_app`` builds it (nothing is started)."""
    return create_app().openapi()


def render(doc: dict[str, Any] | None = None) -> str:
    """The committed form: sorted keys, two-space indent, a final newline."""
    return json.dumps(document() if doc is None else doc, sort_keys=True, indent=2) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
