"""Test-wide setup: every test session gets its own MLOPS_HOME and AIRFLOW_HOME.

Airflow reads its configuration when it is first imported, so the environment
is set here, before any test module imports Airflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SESSION_HOME = Path(tempfile.mkdtemp(prefix="mlops-tests-"))

os.environ.update(
    {
        "MLOPS_HOME": str(SESSION_HOME / "home"),
        "AIRFLOW_HOME": str(SESSION_HOME / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(SESSION_HOME / "airflow" / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "GIT_PYTHON_REFRESH": "quiet",
    }
)
for _var in (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLOPS_STORE_URL",
    "MLOPS_SNAPSHOTS_DIR",
    "MLOPS_PREDICTION_LOG_DIR",
):
    os.environ.pop(_var, None)
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture
def mlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MLOPS_HOME with a migrated store, MLflow on SQLite under it."""
    from airflow_mlops.config import get_settings
    from airflow_mlops.store import dispose_engines, migrate

    home = tmp_path / "mlops"
    monkeypatch.setenv("MLOPS_HOME", str(home))
    settings = get_settings()
    settings.ensure_dirs()
    migrate(settings.store_url)
    yield home
    dispose_engines()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata DB for this session, migrated once."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL, env=os.environ.copy()
    )
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback for the session, started when a test first needs it."""
    from helpers.s3_server import moto_s3_server

    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the session's S3 server, with this test's environment pointed at it."""
    import s3fs
    from helpers.s3_server import create_bucket, point_s3_at

    point_s3_at(s3_endpoint, monkeypatch)
    yield create_bucket(s3_endpoint)
    s3fs.S3FileSystem.clear_instance_cache()
