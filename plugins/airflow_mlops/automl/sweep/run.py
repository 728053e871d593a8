"""A whole sweep in one process: prepare, one worker, finish."""

from __future__ import annotations

import pandas as pd
from mlflow.entities import RunStatus

from airflow_mlops.automl.sweep.config import SweepConfig
from airflow_mlops.automl.sweep.finish import finish_sweep
from airflow_mlops.automl.sweep.prepare import prepare_sweep
from airflow_mlops.automl.sweep.results import SweepResult
from airflow_mlops.automl.sweep.study import forget_study
from airflow_mlops.automl.sweep.tracking import mlflow_client
from airflow_mlops.automl.sweep.worker import ProgressCallback, run_worker

__all__ = ["run_sweep"]


def run_sweep(
    df: pd.DataFrame,
    config: SweepConfig,
    *,
    progress: ProgressCallback | None = None,
) -> SweepResult:
    """Prepare, run one worker in this process, and finish: a whole sweep in one call.

    Each family's ``default_params`` run first, so even a sweep cut short by
    its budget has scored every family once at a known-good point before the
    seeded TPE sampler explores. The winner is not refitted here: call
    :func:`~airflow_mlops.automl.fit_pipeline` with ``best_family`` / ``best_params``.
    """
    handle = prepare_sweep(df, config)
    try:
        run_worker(df, config, handle, progress=progress)
        return finish_sweep(df, config, handle)
    except BaseException as exc:
        if not isinstance(exc, Exception) or not isinstance(exc, RuntimeError | ValueError):
            mlflow_client(config).set_terminated(
                handle.parent_run_id, status=RunStatus.to_string(RunStatus.KILLED)
            )
        raise
    finally:
        forget_study(config, handle.study_name)
