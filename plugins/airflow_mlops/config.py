"""One settings object for every part of the project.

Values come from environment variables, then defaults rooted at ``MLOPS_HOME``
(``./.mlops`` in the checkout), so a laptop needs no servers: SQLite files and
local directories. Pointing the same variables at PostgreSQL, an MLflow server
and object storage (``MLOPS_SNAPSHOTS_DIR=s3://bucket/snapshots``) scales out
without code changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from airflow_mlops.storage import StoragePath, is_local, storage_root


@dataclass(frozen=True)
class Settings:
    """Where everything lives. Build it with :func:`get_settings`."""

    home: Path
    store_url: str
    mlflow_tracking_uri: str
    mlflow_registry_uri: str
    #: Local directory (a ``Path``) or fsspec URL (a ``UPath``; see :mod:`airflow_mlops.storage`),
    #: so every host of a scaled-out setup can read the snapshots and the prediction log.
    snapshots_dir: StoragePath
    prediction_log_dir: StoragePath
    studies_dir: Path
    reports_dir: Path
    #: Where new MLflow experiments keep artifacts; None lets an MLflow server decide.
    #: Without it MLflow would put them in ``./mlruns`` under whatever the cwd is.
    mlflow_artifact_root: str | None = None
    #: The prediction server's base URL as clients should reach it (``MLOPS_PREDICTION_SERVER_URL``),
    #: shown as each deployment's ``defaultPredictionServer``; None: the URL the caller reached.
    prediction_server_url: str | None = None
    #: Days of raw prediction rows kept (``MLOPS_PREDICTION_LOG_RETENTION_DAYS``); None (unset, the
    #: default): kept forever. Buckets, baselines and health history are never deleted.
    prediction_log_retention_days: int | None = None
    #: Minutes after an hour's end before its log files are compacted into one
    #: (``MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES``, default 60); None (``off``): never compacted.
    prediction_log_compact_after_minutes: int | None = 60
    #: Categories a monitoring baseline keeps per categorical feature (``MLOPS_BASELINE_TOP_K``,
    #: default 500); the rest, and categories never seen in training, share one "other" bin.
    baseline_top_k: int = 500
    #: Rows the prediction server keeps in memory while the log cannot be written
    #: (``MLOPS_PREDICTION_LOG_MAX_PENDING_ROWS``, default 100 000); past it, predictions are
    #: refused with 503 until the rows are written (see ``prediction_log/writer.py``).
    prediction_log_max_pending_rows: int = 100_000

    def ensure_dirs(self) -> None:
        """Create the local directories; object stores have no directories to create."""
        for path in (
            self.home,
            self.snapshots_dir,
            self.prediction_log_dir,
            self.studies_dir,
            self.reports_dir,
        ):
            if is_local(path):
                path.mkdir(parents=True, exist_ok=True)


def _positive_int(name: str, default: int) -> int:
    text = os.environ.get(name) or ""
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={text!r} is not valid; expected a whole number >= 1")
    return value


def get_settings(home: str | os.PathLike[str] | None = None) -> Settings:
    """Read the settings now (not at import), so tests and tasks can change them."""
    root = Path(home or os.environ.get("MLOPS_HOME") or ".mlops").resolve()
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"
    return Settings(
        home=root,
        store_url=os.environ.get("MLOPS_STORE_URL") or f"sqlite:///{root / 'mlops.db'}",
        mlflow_tracking_uri=tracking,
        mlflow_registry_uri=os.environ.get("MLFLOW_REGISTRY_URI") or tracking,
        snapshots_dir=storage_root(
            os.environ.get("MLOPS_SNAPSHOTS_DIR") or root / "snapshots", env="MLOPS_SNAPSHOTS_DIR"
        ),
        prediction_log_dir=storage_root(
            os.environ.get("MLOPS_PREDICTION_LOG_DIR") or root / "predictions", env="MLOPS_PREDICTION_LOG_DIR"
        ),
        prediction_server_url=(os.environ.get("MLOPS_PREDICTION_SERVER_URL") or "").rstrip("/") or None,
        prediction_log_retention_days=_optional_int(
            "MLOPS_PREDICTION_LOG_RETENTION_DAYS", None, minimum=1, off=("", "0", "off", "none")
        ),
        prediction_log_compact_after_minutes=_optional_int(
            "MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES", 60, minimum=0, off=("off", "none")
        ),
        baseline_top_k=_positive_int("MLOPS_BASELINE_TOP_K", 500),
        prediction_log_max_pending_rows=_positive_int("MLOPS_PREDICTION_LOG_MAX_PENDING_ROWS", 100_000),
        studies_dir=root / "studies",
        reports_dir=root / "reports",
        mlflow_artifact_root=os.environ.get("MLOPS_ARTIFACT_ROOT")
        or (
            None
            if tracking.startswith(("http://", "https://", "databricks"))
            else (root / "mlartifacts").as_uri()
        ),
    )


def _optional_int(name: str, default: int | None, *, minimum: int, off: tuple[str, ...]) -> int | None:
    """An integer setting that can be switched off; a clear error naming the variable otherwise."""
    raw = os.environ.get(name)
    if raw is None or (raw.strip() == "" and "" not in off):
        return default
    text = raw.strip().lower()
    if text in off:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        allowed = " or ".join(repr(o) for o in off if o) or "nothing else"
        raise ValueError(
            f"{name}={raw!r} is not valid; expected an integer >= {minimum}, or {allowed} to turn it off"
        )
    return value


def airflow_environment(settings: Settings, project_dir: Path | None = None) -> dict[str, str]:
    """The Airflow variables that keep Airflow's own state under ``MLOPS_HOME``.

    Values already in the environment win, so a user's existing Airflow setup
    (PostgreSQL metadata DB, Celery executor, …) is left alone. An empty value
    counts as unset, as in :func:`get_settings`.
    """
    project = (project_dir or Path.cwd()).resolve()
    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or settings.home / "airflow")
    cores = os.cpu_count() or 2
    defaults = {
        "MLOPS_HOME": str(settings.home),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        # Not the checkout's plugins/: the plugin comes through its entry point, and Airflow
        # importing the package from the folder too is a "Plugin already registered" error.
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(airflow_home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The loop closes by itself: a drift-triggered retrain runs without a person unpausing DAGs.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # LocalExecutor starts one worker per parallelism slot (Airflow's default 32): one per core here.
        "AIRFLOW__CORE__PARALLELISM": str(cores),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": str(min(2, cores)),
    }
    env = {key: os.environ.get(key) or value for key, value in defaults.items()}
    # Passed on when the user set it, never filled in with the default: every process derives that
    # default from MLOPS_HOME anyway, and an exported default would shadow the mlflow_default
    # Airflow connection in every task (the environment wins over connections).
    if os.environ.get("MLFLOW_TRACKING_URI"):
        env["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_TRACKING_URI"]
    return env
