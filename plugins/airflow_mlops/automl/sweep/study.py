"""The Optuna study a sweep's workers share: opened once per process, refused if scored differently.

Where it is stored is :mod:`airflow_mlops.automl.storage`'s business; here
each worker gets its own seeded sampler on the shared study, and a resumed
study must agree with the new run on everything that makes scores comparable.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import optuna

from airflow_mlops.automl.fidelity import make_pruner
from airflow_mlops.automl.storage import open_storage
from airflow_mlops.automl.sweep.config import SweepConfig
from airflow_mlops.automl.sweep.data import SweepData

#: In-memory studies by name, so that the three steps of :func:`~airflow_mlops.automl.run_sweep` share one.
_MEMORY: dict[str, optuna.storages.BaseStorage] = {}
#: Opened persistent storages by location: a journal or a database pool, once per process.
_OPENED: dict[str, optuna.storages.BaseStorage] = {}


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the progress callback and MLflow already say it."""
    if optuna.logging.get_verbosity() <= optuna.logging.INFO:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def study_attrs(config: SweepConfig, data: SweepData) -> dict[str, Any]:
    """What must agree for trials to be comparable; a resumed study with other values is refused."""
    return {
        "target": config.target,
        "task": data.task,
        "metric": data.metric,
        "families": [family.name for family in data.families],
        "cv_folds": config.cv_folds,
        "holdout_fraction": config.holdout_fraction,
        "seed": config.seed,
        "stages": [stage.fraction for stage in data.stages],
        "n_rows": len(data.y),
    }


def check_resumed_study(study: optuna.Study, expected: Mapping[str, Any]) -> None:
    """Refuse to mix trials scored differently into one study (another metric, task, data...)."""
    stored = study.user_attrs
    if "target" not in stored:
        for key, value in expected.items():
            study.set_user_attr(key, value)
        return
    clash = {key: (stored.get(key), value) for key, value in expected.items() if stored.get(key) != value}
    if clash:
        raise ValueError(
            f"study {study.study_name!r} already exists with different settings "
            f"(stored vs requested): {clash}; use another study_name"
        )


def load_study(
    config: SweepConfig, data: SweepData, study_name: str, worker_index: int, *, fresh: bool = False
) -> optuna.Study:
    """The shared study with this worker's own sampler (seeded per worker) and the staged pruner."""
    sampler = optuna.samplers.TPESampler(
        seed=(config.seed + 7919 * worker_index) % 2**32,
        n_startup_trials=len(data.families) + 4,
        multivariate=True,
        group=True,
        constant_liar=True,
    )
    return optuna.create_study(
        storage=_storage(config, study_name, fresh=fresh),
        sampler=sampler,
        pruner=make_pruner(config.pruner_kind, data.stages),
        study_name=study_name,
        direction="maximize" if data.spec.greater_is_better else "minimize",
        load_if_exists=True,
    )


def forget_study(config: SweepConfig, study_name: str) -> None:
    """Drop an in-memory study once its sweep is over; a stored one stays where it is."""
    if config.storage is None:
        _MEMORY.pop(study_name, None)


def _storage(config: SweepConfig, study_name: str, *, fresh: bool = False) -> optuna.storages.BaseStorage:
    """The study's storage; ``fresh`` (only when preparing) starts a new in-memory one."""
    if config.storage is None:
        if fresh or study_name not in _MEMORY:
            _MEMORY[study_name] = optuna.storages.InMemoryStorage()
        return _MEMORY[study_name]
    if config.storage not in _OPENED:
        opened = open_storage(config.storage)
        assert opened is not None
        _OPENED[config.storage] = opened
    return _OPENED[config.storage]
