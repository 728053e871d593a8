"""What a sweep is asked to do (:class:`SweepConfig`) and what its workers share (:class:`SweepHandle`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from airflow_mlops.automl.families import get_family
from airflow_mlops.automl.fidelity import MIN_SAMPLE_ROWS
from airflow_mlops.automl.modes import DEFAULT_MODE, PRUNERS, PrunerKind, get_mode
from airflow_mlops.automl.task import TaskType, get_metric, validate_task

__all__ = ["SweepConfig", "SweepHandle"]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class SweepConfig:
    """What to search and where to record it; checked on construction so a typo fails the task at once.

    ``mode`` (``quick``/``auto``/``comprehensive``) sets the trial count, the
    wall-clock budget and the pruner; ``n_trials``, ``timeout_s`` and
    ``pruner`` override it. ``n_trials`` is the study's total: re-running a
    persistent study (an Airflow retry, another worker) only tops it up.
    ``timeout_s`` is a hard budget for the search of one sweep run: no fit
    starts that is expected to end past it. ``holdout_fraction`` of the rows
    is set aside (stratified for classes) and never used to choose a model.
    ``storage`` is ``None`` (in memory), a URL for an Optuna RDB (PostgreSQL
    across machines) or a file path for an Optuna journal file (several
    processes on one machine). ``tracking_uri`` defaults to the project
    settings, never to MLflow's ``./mlruns``. ``n_jobs`` caps the threads of
    each worker's fits (default: the machine's cores shared among workers).
    ``ensemble`` blends the best candidates after the search into one more
    leaderboard entry (:mod:`~airflow_mlops.automl.sweep.ensemble`).
    ``refit_share`` of the time budget is kept free after the sweep for
    refitting the winner on all rows, so the whole budget covers search,
    ensemble and refit; an ensemble only takes members whose estimated refit
    fits the time left.
    """

    target: str
    task: TaskType | None = None
    metric: str | None = None
    families: Sequence[str] | None = None
    mode: str = DEFAULT_MODE
    n_trials: int | None = None
    timeout_s: float | None = None
    pruner: PrunerKind | None = None
    cv_folds: int = 3
    holdout_fraction: float = 0.2
    min_sample_rows: int = MIN_SAMPLE_ROWS
    seed: int = 0
    study_name: str | None = None
    storage: str | None = None
    experiment_name: str = "automl"
    tracking_uri: str | None = None
    artifact_location: str | None = None
    exclude: Sequence[str] = ()
    n_jobs: int | None = None
    ensemble: bool = True
    refit_share: float = 0.1

    def __post_init__(self) -> None:
        _check(
            isinstance(self.target, str) and bool(self.target),
            f"target={self.target!r} must be a column name",
        )
        if self.task is not None:
            validate_task(self.task)
        if self.metric is not None:
            get_metric(self.metric, self.task)
        if self.families is not None:
            families = (self.families,) if isinstance(self.families, str) else tuple(self.families)
            for name in families:
                get_family(name)
            object.__setattr__(self, "families", families)
        get_mode(self.mode)
        exclude = (self.exclude,) if isinstance(self.exclude, str) else tuple(self.exclude)
        _check(self.target not in exclude, f"exclude={exclude!r} contains the target {self.target!r}")
        object.__setattr__(self, "exclude", exclude)
        _check(
            self.n_trials is None or (_is_int(self.n_trials) and self.n_trials >= 1),
            f"n_trials={self.n_trials!r} must be an int >= 1 or None (the mode's)",
        )
        _check(
            self.timeout_s is None or (isinstance(self.timeout_s, int | float) and self.timeout_s > 0),
            f"timeout_s={self.timeout_s!r} must be a positive number of seconds or None (the mode's)",
        )
        _check(
            self.pruner is None or self.pruner in PRUNERS,
            f"pruner={self.pruner!r} is not valid; expected one of {', '.join(map(repr, PRUNERS))}",
        )
        _check(
            _is_int(self.cv_folds) and self.cv_folds >= 2, f"cv_folds={self.cv_folds!r} must be an int >= 2"
        )
        _check(
            isinstance(self.holdout_fraction, int | float) and 0 <= self.holdout_fraction < 0.5,
            f"holdout_fraction={self.holdout_fraction!r} must be in [0, 0.5)",
        )
        _check(
            _is_int(self.min_sample_rows) and self.min_sample_rows >= 1,
            f"min_sample_rows={self.min_sample_rows!r} must be an int >= 1",
        )
        _check(
            _is_int(self.seed) and 0 <= self.seed < 2**32,
            f"seed={self.seed!r} must be an int in [0, 2**32)",
        )
        _check(
            self.n_jobs is None or (_is_int(self.n_jobs) and self.n_jobs >= 1),
            f"n_jobs={self.n_jobs!r} must be an int >= 1 or None",
        )
        _check(isinstance(self.ensemble, bool), f"ensemble={self.ensemble!r} must be True or False")
        _check(
            isinstance(self.refit_share, int | float) and 0 <= self.refit_share <= 0.5,
            f"refit_share={self.refit_share!r} must be a fraction of the time budget in [0, 0.5]",
        )
        for name in ("study_name", "storage", "tracking_uri", "artifact_location"):
            value = getattr(self, name)
            _check(
                value is None or (isinstance(value, str) and bool(value.strip())),
                f"{name}={value!r} must be a non-empty string or None",
            )
        _check(
            isinstance(self.experiment_name, str) and bool(self.experiment_name.strip()),
            f"experiment_name={self.experiment_name!r} must be a non-empty string",
        )

    @property
    def trial_budget(self) -> int:
        """``n_trials``, else the mode's."""
        return self.n_trials if self.n_trials is not None else get_mode(self.mode).n_trials

    @property
    def time_budget_s(self) -> float:
        """``timeout_s``, else the mode's."""
        return float(self.timeout_s if self.timeout_s is not None else get_mode(self.mode).timeout_s)

    @property
    def pruner_kind(self) -> PrunerKind:
        return self.pruner if self.pruner is not None else get_mode(self.mode).pruner


@dataclass(frozen=True)
class SweepHandle:
    """What workers need to join a prepared sweep; small and JSON-safe (an XCom)."""

    study_name: str
    storage: str | None
    parent_run_id: str
    experiment_id: str
    task: TaskType
    metric: str
    deadline: float
    started: float
    n_trials: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepHandle:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})
