"""Settings from the environment, with every default under MLOPS_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_mlops.config import airflow_environment, get_settings

OVERRIDES = (
    "MLOPS_STORE_URL",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLOPS_SNAPSHOTS_DIR",
    "MLOPS_PREDICTION_LOG_DIR",
    "MLOPS_PREDICTION_LOG_RETENTION_DAYS",
    "MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES",
)
AIRFLOW_VARS = (
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__PLUGINS_FOLDER",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
    "AIRFLOW__CORE__PARALLELISM",
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__WORKERS",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*OVERRIDES, *AIRFLOW_VARS, "MLOPS_HOME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_live_under_mlops_home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    clean_env.setenv("MLOPS_HOME", str(home))

    settings = get_settings()

    assert settings.home == home
    assert settings.store_url == f"sqlite:///{home}/mlops.db"
    assert settings.mlflow_tracking_uri == f"sqlite:///{home}/mlflow.db"
    assert settings.mlflow_registry_uri == settings.mlflow_tracking_uri
    assert settings.snapshots_dir == home / "snapshots"
    assert settings.prediction_log_dir == home / "predictions"
    assert settings.studies_dir == home / "studies"
    assert settings.reports_dir == home / "reports"


def test_home_defaults_to_dot_mlops_in_the_working_directory_made_absolute(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.chdir(tmp_path)
    assert get_settings().home == tmp_path.resolve() / ".mlops"
    clean_env.setenv("MLOPS_HOME", "relative/home")
    settings = get_settings()
    assert settings.home == tmp_path.resolve() / "relative" / "home"
    assert settings.store_url == f"sqlite:///{tmp_path.resolve()}/relative/home/mlops.db"
    # An explicit argument beats the environment.
    assert get_settings(tmp_path / "explicit").home == tmp_path / "explicit"


def test_environment_overrides(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("MLOPS_HOME", str(tmp_path / "home"))
    clean_env.setenv("MLOPS_STORE_URL", "postgresql+psycopg://mlops@db/mlops")
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    clean_env.setenv("MLOPS_SNAPSHOTS_DIR", str(tmp_path / "snaps"))
    clean_env.setenv("MLOPS_PREDICTION_LOG_DIR", str(tmp_path / "log"))

    settings = get_settings()

    assert settings.store_url == "postgresql+psycopg://mlops@db/mlops"
    assert settings.mlflow_tracking_uri == "http://mlflow:5000"
    assert settings.mlflow_registry_uri == "http://mlflow:5000"  # follows tracking unless set
    assert settings.snapshots_dir == tmp_path / "snaps"
    assert settings.prediction_log_dir == tmp_path / "log"
    assert settings.studies_dir == tmp_path / "home" / "studies"  # still under MLOPS_HOME

    clean_env.setenv("MLFLOW_REGISTRY_URI", "http://registry:5000")
    assert get_settings().mlflow_registry_uri == "http://registry:5000"


def test_settings_are_read_at_call_time(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("MLOPS_HOME", str(tmp_path / "a"))
    first = get_settings()
    clean_env.setenv("MLOPS_HOME", str(tmp_path / "b"))
    second = get_settings()
    assert (first.home, second.home) == (tmp_path / "a", tmp_path / "b")
    assert first.store_url != second.store_url


def test_empty_variables_count_as_unset(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("MLOPS_HOME", str(tmp_path))
    clean_env.setenv("MLOPS_STORE_URL", "")
    clean_env.setenv("MLFLOW_TRACKING_URI", "")
    settings = get_settings()
    assert settings.store_url == f"sqlite:///{tmp_path}/mlops.db"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"


def test_ensure_dirs_creates_every_directory(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("MLOPS_HOME", str(tmp_path / "home"))
    settings = get_settings()
    settings.ensure_dirs()
    settings.ensure_dirs()  # again: no error
    for path in (
        settings.home,
        settings.snapshots_dir,
        settings.prediction_log_dir,
        settings.studies_dir,
        settings.reports_dir,
    ):
        assert path.is_dir(), path


def test_airflow_environment_defaults_under_mlops_home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    clean_env.setenv("MLOPS_HOME", str(home))
    project = tmp_path / "project"

    env = airflow_environment(get_settings(), project)

    cores = os.cpu_count() or 2
    assert env == {
        "MLOPS_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "airflow" / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": str(cores),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": str(min(2, cores)),
    }, "no MLFLOW_TRACKING_URI: a default exported here would shadow the mlflow_default connection"
    clean_env.chdir(project.parent)
    assert airflow_environment(get_settings())["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")


def test_airflow_environment_keeps_values_already_set(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("MLOPS_HOME", str(tmp_path / "home"))
    clean_env.setenv("AIRFLOW_HOME", "/opt/airflow")
    clean_env.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "True")
    clean_env.setenv("AIRFLOW__CORE__DAGS_FOLDER", "/opt/airflow/dags")
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = get_settings()

    env = airflow_environment(settings, tmp_path)

    assert env["AIRFLOW_HOME"] == "/opt/airflow"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "True"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/dags"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/airflow/plugins"  # unset: under AIRFLOW_HOME
    assert env["MLOPS_HOME"] == str(tmp_path / "home")
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_airflow_environment_treats_empty_values_as_unset(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As get_settings does: an empty AIRFLOW_HOME must not put Airflow's state in the working directory."""
    home = tmp_path / "home"
    clean_env.setenv("MLOPS_HOME", str(home))
    clean_env.setenv("AIRFLOW_HOME", "")
    clean_env.setenv("MLFLOW_TRACKING_URI", "")
    settings = get_settings()

    env = airflow_environment(settings, tmp_path)

    assert env["AIRFLOW_HOME"] == str(home / "airflow")
    assert "MLFLOW_TRACKING_URI" not in env
    assert settings.mlflow_tracking_uri == f"sqlite:///{home}/mlflow.db"


def test_storage_roots_accept_fsspec_urls_and_ensure_dirs_leaves_object_stores_alone(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from upath import UPath

    home = tmp_path / "home"
    clean_env.setenv("MLOPS_HOME", str(home))
    clean_env.setenv("MLOPS_SNAPSHOTS_DIR", "s3://bucket/team/snapshots/")
    clean_env.setenv("MLOPS_PREDICTION_LOG_DIR", f"file://{tmp_path / 'shared' / 'predictions'}")

    settings = get_settings()

    assert isinstance(settings.snapshots_dir, UPath)
    assert (settings.snapshots_dir.protocol, settings.snapshots_dir.path) == ("s3", "bucket/team/snapshots")
    # A file:// URL is a local directory: a plain Path, written with rename like any other.
    assert settings.prediction_log_dir == tmp_path / "shared" / "predictions"
    assert type(settings.prediction_log_dir) is type(tmp_path)
    settings.ensure_dirs()  # no S3 call, no local "s3:" directory
    assert settings.prediction_log_dir.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "shared"]
    assert not (home / "snapshots").exists()


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("MLOPS_SNAPSHOTS_DIR", "s4://bucket/snapshots", "unknown protocol 's4'"),
        (
            "MLOPS_PREDICTION_LOG_DIR",
            "oci://bucket@ns/predictions",
            "protocol 'oci' is not installed",
        ),  # no ocifs here
    ],
)
def test_an_unusable_storage_url_names_the_variable_the_value_and_what_is_expected(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, problem: str
) -> None:
    from airflow_mlops.storage import StorageRootError

    clean_env.setenv("MLOPS_HOME", str(tmp_path / "home"))
    clean_env.setenv(variable, value)
    with pytest.raises(StorageRootError) as caught:
        get_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}={value!r}: ")
    assert problem in message
    assert "expected a local directory" in message and "s3://bucket/prefix" in message


def test_log_retention_is_off_and_compaction_on_after_an_hour_by_default(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("MLOPS_HOME", str(tmp_path))
    settings = get_settings()
    assert (settings.prediction_log_retention_days, settings.prediction_log_compact_after_minutes) == (
        None,
        60,
    )
    clean_env.setenv("MLOPS_PREDICTION_LOG_RETENTION_DAYS", "90")
    clean_env.setenv("MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES", "15")
    settings = get_settings()
    assert (settings.prediction_log_retention_days, settings.prediction_log_compact_after_minutes) == (90, 15)
    clean_env.setenv("MLOPS_PREDICTION_LOG_RETENTION_DAYS", "off")
    clean_env.setenv("MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES", "OFF")
    settings = get_settings()
    assert (settings.prediction_log_retention_days, settings.prediction_log_compact_after_minutes) == (
        None,
        None,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MLOPS_PREDICTION_LOG_RETENTION_DAYS", "-3"),
        ("MLOPS_PREDICTION_LOG_RETENTION_DAYS", "ninety"),
        ("MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES", "-1"),
        ("MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES", "1.5"),
    ],
)
def test_bad_log_lifecycle_settings_name_the_variable(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    clean_env.setenv("MLOPS_HOME", str(tmp_path))
    clean_env.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}={value!r} is not valid; expected an integer >= "):
        get_settings()


def test_baseline_top_k_comes_from_the_environment_and_is_checked(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("MLOPS_HOME", str(tmp_path))
    clean_env.delenv("MLOPS_BASELINE_TOP_K", raising=False)
    assert get_settings().baseline_top_k == 500
    clean_env.setenv("MLOPS_BASELINE_TOP_K", "50")
    assert get_settings().baseline_top_k == 50
    for bad in ("0", "many", "2.5"):
        clean_env.setenv("MLOPS_BASELINE_TOP_K", bad)
        with pytest.raises(ValueError, match=f"MLOPS_BASELINE_TOP_K='{bad}' is not valid; expected a whole"):
            get_settings()
