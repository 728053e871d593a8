"""The AutoML sweep: Optuna searches model families with staged fidelity, MLflow records every trial.

A sweep has three steps, so that several workers can share one study:

1. :func:`prepare_sweep` checks the data and settings, creates (or reopens)
   the Optuna study and the MLflow parent run, fails trials that a killed
   worker left running and queues their parameters again, queues every
   family's known-good defaults first, and fixes the deadline;
2. :func:`run_worker`, once per worker (an Airflow mapped task, a process,
   a machine), asks the study for candidates until the trial count or the
   deadline is reached; each candidate is cross-validated stage by stage on
   growing samples (:mod:`~airflow_mlops.automl.fidelity`) and scored on a
   fixed holdout the search never optimises on;
3. :func:`finish_sweep` blends the best candidates into an ensemble from
   the out-of-fold predictions they kept, ranks every entry, stores the
   leaderboard as an MLflow table and closes the parent run.

:func:`run_sweep` does all three in one process. Every worker derives the
same folds and holdout from the same rows and seed, so only the study and
MLflow are shared. Nothing here imports Airflow.

One module per part: ``config`` (what is asked, what workers share),
``data`` (the rows, holdout and folds), ``study`` (the shared Optuna study),
``tracking`` (the MLflow store), ``budget`` (trial count and deadline),
``evaluate`` (scoring one candidate), ``ensemble`` (the ensemble step), ``prepare``, ``worker``, ``finish``
and ``run`` (the steps), ``results`` (what comes back).
"""

from __future__ import annotations

from airflow_mlops.automl.fitting import fit_pipeline
from airflow_mlops.automl.leaderboard import LEADERBOARD_ARTIFACT, LEADERBOARD_COLUMNS
from airflow_mlops.automl.pipeline import build_pipeline
from airflow_mlops.automl.sweep.config import SweepConfig, SweepHandle
from airflow_mlops.automl.sweep.finish import finish_sweep
from airflow_mlops.automl.sweep.prepare import prepare_sweep
from airflow_mlops.automl.sweep.results import SweepResult, WorkerReport
from airflow_mlops.automl.sweep.run import run_sweep
from airflow_mlops.automl.sweep.worker import ProgressCallback, run_worker

__all__ = [
    "LEADERBOARD_ARTIFACT",
    "LEADERBOARD_COLUMNS",
    "ProgressCallback",
    "SweepConfig",
    "SweepHandle",
    "SweepResult",
    "WorkerReport",
    "build_pipeline",
    "finish_sweep",
    "fit_pipeline",
    "prepare_sweep",
    "run_sweep",
    "run_worker",
]
