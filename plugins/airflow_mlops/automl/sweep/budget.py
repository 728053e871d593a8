"""A sweep's two budgets: the study's trial count and the run's wall-clock deadline.

The trial count is the study's total, shared by every worker, so workers
count the study's trials rather than their own. The deadline is hard: no fit
starts that is expected to end past it, and a worker stops early enough to
leave time for the ensemble, for ranking and logging the leaderboard, and
the ``refit_share`` for refitting the winner after the sweep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.trial import TrialState

from airflow_mlops.automl.sweep.config import SweepConfig, SweepHandle

#: Trials that count towards ``n_trials``: finished ones, and running ones (another worker's).
_COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
#: Part of the budget kept for ranking and logging the leaderboard after the last trial
#: (3%, at least half a second, at most two).
_FINISH_RESERVE_FRACTION = 0.03
_FINISH_RESERVE_MIN_S = 0.5
_FINISH_RESERVE_MAX_S = 2.0
#: Part of the budget kept for building the ensemble (8%, at least three seconds, at most 60).
_ENSEMBLE_RESERVE_FRACTION = 0.08
_ENSEMBLE_RESERVE_MIN_S = 3.0
_ENSEMBLE_RESERVE_MAX_S = 60.0
#: Candidates in a row that cannot finish in the time left before a worker gives up early.
MAX_OUT_OF_BUDGET = 8


def counted_trials(study: optuna.Study) -> int:
    """Trials towards ``n_trials``: finished or running, and failed ones that failed on their own.

    A trial failed because its worker was killed does not count: its
    parameters run again (see :func:`~airflow_mlops.automl.storage.recover_interrupted_trials`).
    """
    return sum(
        1
        for trial in study.get_trials(deepcopy=False)
        if trial.state in _COUNTED_STATES or (trial.state == TrialState.FAIL and "error" in trial.user_attrs)
    )


def is_surplus(study: optuna.Study, number: int, n_trials: int) -> bool:
    """Whether trial ``number`` is one too many: workers that ask at once could overshoot ``n_trials``.

    Of the running trials beyond the limit, the latest ones give way, so
    exactly one of two racing workers stops.
    """
    excess = counted_trials(study) - n_trials
    if excess <= 0:
        return False
    running = sorted(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    return number in running[-excess:]


def _clamped(fraction: float, low: float, high: float, budget: float) -> float:
    return min(high, max(low, fraction * budget))


def refit_deadline(config: SweepConfig, handle: SweepHandle) -> float:
    """When the sweep must have finished: the deadline less the share kept for refitting the winner."""
    return handle.deadline - config.refit_share * config.time_budget_s


def ensemble_deadline(config: SweepConfig, handle: SweepHandle) -> float:
    """When building the ensemble must stop: before the refit share, leaving time to log the leaderboard."""
    budget = config.time_budget_s
    return refit_deadline(config, handle) - _clamped(
        _FINISH_RESERVE_FRACTION, _FINISH_RESERVE_MIN_S, _FINISH_RESERVE_MAX_S, budget
    )


def worker_deadline(config: SweepConfig, handle: SweepHandle) -> float:
    """When a worker must have stopped: before the reserves for the ensemble, finishing and the refit."""
    reserve = (
        _clamped(
            _ENSEMBLE_RESERVE_FRACTION, _ENSEMBLE_RESERVE_MIN_S, _ENSEMBLE_RESERVE_MAX_S, config.time_budget_s
        )
        if config.ensemble
        else 0.0
    )
    return ensemble_deadline(config, handle) - reserve


class OutOfBudget(Exception):
    """The next fit would end past the deadline."""


@dataclass
class Clock:
    """Seconds per training row of each family's recent fits, to predict whether the next fit fits the budget.

    A candidate's own previous fold is the best predictor; else the family's
    last fit; else the median over families (one slow outlier, e.g. a fit
    that waited for the CPU, must not make every other family look too slow).
    """

    deadline: float
    rate: dict[str, float] = field(default_factory=dict)

    def check(self, family: str, rows: int, own_rate: float | None) -> None:
        known = own_rate if own_rate is not None else self.rate.get(family)
        if known is None and self.rate:
            known = float(np.median(list(self.rate.values())))
        expected = (known or 0.0) * rows
        if time.time() + expected > self.deadline:
            raise OutOfBudget(f"a fit on {rows} rows takes ~{expected:.1f}s; past the deadline")

    def record(self, family: str, rows: int, seconds: float) -> float:
        rate = seconds / max(rows, 1)
        self.rate[family] = rate
        return rate
