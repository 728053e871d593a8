"""Where a sweep's Optuna study lives, so several workers (and a resumed run) share it.

A file path means an Optuna journal file (``JournalStorage``): several
processes on one machine append to it under a file lock, and a process killed
mid-trial leaves every other trial intact. A URL (``postgresql://...``) means
``RDBStorage``, for workers on several machines. Either way, a trial whose
worker died stays RUNNING until the sweep is run again or that worker is
retried: :func:`recover_interrupted_trials` then fails it and queues its parameters.
(Optuna's heartbeats only work inside ``Study.optimize``; workers here drive
the study with ask/tell to control the budget per fit.)
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

#: Environment variable naming the study storage for sweeps that do not name one.
STORAGE_ENV = "MLOPS_OPTUNA_STORAGE"
#: user_attr marking a trial that re-runs the parameters of one whose worker died.
RETRY_OF = "retry_of"
#: user_attr naming the worker (its index in the sweep) that ran a trial.
WORKER_INDEX = "worker_index"


def default_storage(home: Path) -> str:
    """``$MLOPS_OPTUNA_STORAGE``, else a journal file under ``MLOPS_HOME``."""
    return os.environ.get(STORAGE_ENV) or str(home / "optuna" / "journal.log")


def open_storage(storage: str | None) -> BaseStorage | None:
    """A URL becomes an ``RDBStorage``; anything else a journal file path."""
    if storage is None:
        return None
    if "://" in storage:
        return RDBStorage(storage, engine_kwargs={"pool_pre_ping": True})
    path = Path(storage).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def recover_interrupted_trials(study: optuna.Study, *, worker_index: int | None = None) -> list[int]:
    """Fail the trials left RUNNING by dead workers and queue their parameters again.

    Called when a sweep (re)starts, before any of its workers run: a trial
    still RUNNING then belongs to a worker of an earlier attempt that was
    killed. Its parameters are enqueued again (once: a retry that also dies is
    not retried), so resuming redoes only the interrupted trials, never a
    completed one. Returns the numbers of the trials failed.

    With ``worker_index``, only that worker's trials: a retried worker (Airflow
    retrying a mapped task whose host died) recovers what it was running, while
    the trials other workers are running at that moment are left alone.
    """
    storage = study._storage
    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if worker_index is not None and trial.user_attrs.get(WORKER_INDEX) != worker_index:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "interrupted", True)  # a finished trial is read-only
        if storage.set_trial_state_values(trial_id, TrialState.FAIL):
            failed.append(trial.number)
            if RETRY_OF not in trial.user_attrs:
                study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number})
    return failed
