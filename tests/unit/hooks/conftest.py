"""Every test here starts with none of the settings' variables and leaves none behind.

``apply_connections`` exports into ``os.environ`` by design (the task process
is its scope); in one pytest process that would leak a test's store into the
next. Deleting the variables through ``monkeypatch`` first makes it put back
the session's values (or their absence) at teardown, whatever was exported;
the module's record of its exports is a fresh dict per test.
"""

from __future__ import annotations

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
def no_settings_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(connections, "_exported", {})
    return monkeypatch
