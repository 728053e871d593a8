"""The Evidently HTML report of one monitoring run: reference sample vs current sample.

Buckets answer every metric; a person investigating drift also wants to look at
distributions, which Evidently draws well. The reference is the few training
rows the baseline keeps (``Baseline.sample``); the current sample is at most
:data:`CURRENT_ROWS` rows of the window, read from the newest log files of the
window's hours only (never the whole log). The HTML is logged as an artifact of
an MLflow run in the experiment ``mlops-monitoring/<deployment id>``; its URI is
stored with the run's health verdicts and listed by ``Deployment.get_monitoring_reports``.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.prediction_log import FEATURE_PREFIX, list_log_files
from airflow_mlops.storage import StoragePath, parquet_file

#: Rows of the window the current sample holds at most.
CURRENT_ROWS = 5_000


def current_sample(
    log_root: StoragePath, deployment_id: str, start: datetime, end: datetime, columns: list[str]
) -> pd.DataFrame:
    """Up to :data:`CURRENT_ROWS` logged rows of ``[start, end)``, newest files first."""
    files = list_log_files(log_root, deployment_id, start=start, end=end - timedelta(microseconds=1))
    frames: list[pd.DataFrame] = []
    total = 0
    for path in reversed(files):
        table = parquet_file(path).read()
        wanted = [f"{FEATURE_PREFIX}{c}" for c in columns if f"{FEATURE_PREFIX}{c}" in table.column_names]
        frame = table.select(wanted).to_pandas().rename(columns=lambda c: c[len(FEATURE_PREFIX) :])
        frames.append(frame.head(CURRENT_ROWS - total))
        total += len(frames[-1])
        if total >= CURRENT_ROWS:
            break
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def write_report(reference: pd.DataFrame, current: pd.DataFrame, path: Path) -> Path:
    """Evidently's data-drift preset over the two samples, saved as HTML at ``path``."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    snapshot.save_html(str(path))
    return path


def log_report(
    deployment_id: str,
    baseline: Baseline,
    *,
    log_root: StoragePath,
    start: datetime,
    end: datetime,
    tracking_uri: str,
    artifact_root: str | None = None,
) -> str | None:
    """Write and log the run's report; returns its artifact URI, or None with nothing to compare.

    ``artifact_root`` (``Settings.mlflow_artifact_root``) places the experiment's
    artifacts; without it MLflow's default (``./mlruns`` of the working directory) applies.
    """
    import mlflow

    from airflow_mlops.registry.mlflow_context import mlflow_stores
    from airflow_mlops.registry.models import get_or_create_experiment

    columns = list(baseline.features)
    reference = pd.DataFrame(baseline.sample).reindex(columns=columns)
    current = current_sample(log_root, deployment_id, start, end, columns)
    if reference.empty or current.empty:
        return None
    name = f"drift_report_{start:%Y%m%dT%H}_{end:%Y%m%dT%H}.html"
    experiment = f"mlops-monitoring/{deployment_id}"
    location = None if artifact_root is None else f"{artifact_root.rstrip('/')}/{experiment}"
    with tempfile.TemporaryDirectory() as tmp, mlflow_stores(tracking_uri) as client:
        path = write_report(reference, current, Path(tmp) / name)
        experiment_id = get_or_create_experiment(client, experiment, location)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"monitor {end:%Y-%m-%dT%H}") as run:
            mlflow.set_tags(
                {
                    "deployment_id": deployment_id,
                    "window_start": start.isoformat(),
                    "window_end": end.isoformat(),
                }
            )
            mlflow.log_artifact(str(path), artifact_path="monitoring")
            return f"{run.info.artifact_uri}/monitoring/{name}"


#: Largest report served back (Evidently's HTML embeds its data; a 5,000-row sample stays far below).
MAX_REPORT_BYTES = 64 * 1024 * 1024


def read_report(uri: str, *, tracking_uri: str) -> bytes:
    """The HTML of a report logged by :func:`log_report` (``uri`` as it returned it).

    Raises ``LookupError`` when the artifact is gone (its run deleted, the artifact
    store moved) and ``ValueError`` when it is larger than :data:`MAX_REPORT_BYTES`.
    """
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri)
            )
        except Exception as exc:  # MlflowException, OSError: the artifact cannot be fetched
            raise LookupError(f"the report {uri!r} cannot be read from MLflow: {exc}") from exc
        size = local.stat().st_size
        if size > MAX_REPORT_BYTES:
            raise ValueError(f"the report {uri!r} is {size} bytes, more than {MAX_REPORT_BYTES} served")
        return local.read_bytes()
