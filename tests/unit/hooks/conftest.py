"""Every test here starts with none of the settings' variables and leaves none behind.

``apply_connections`` exports into ``os.environ`` by design (the task process
is its scope); in one pytest process that would leak a test's store into the
next. The variables are saved, deleted for the test, and put back as they were
(present or absent) at teardown, whatever was exported meanwhile; the module's
record of its exports is a fresh dict per test. (``monkeypatch.delenv`` alone
records nothing for a variable that is absent, so it would not remove one the
test exported.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from airflow_mlops.hooks import connections

SETTING_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLOPS_STORE_URL",
    "AIRFLOW_CONN_MLFLOW_DEFAULT",
    "AIRFLOW_CONN_MLOPS_STORE_DEFAULT",
)


@pytest.fixture(autouse=True)
def no_settings_variables(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    saved = {name: os.environ.pop(name, None) for name in SETTING_VARIABLES}
    monkeypatch.setattr(connections, "_exported", {})
    try:
        yield monkeypatch
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
