"""Staged fidelity, as in DataRobot's Autopilot: score candidates on small samples first.

A candidate is cross-validated on 16% of each training fold, then 32%, 64%
and all of it; after each stage Optuna's pruner (successive halving or
Hyperband, with sample size as the resource) decides whether it is among the
better ones and goes on. Within a stage, a candidate that is already worse
than every other candidate scored at that stage after some of its folds is
stopped at once ("hopeless"), so the remaining folds are not spent on it.

Stage ``r`` is reported to Optuna at step ``2**r`` (1, 2, 4, 8): the pruners'
rungs sit at ``min_resource * 2**k``, so each stage is exactly one rung with a
reduction factor of 2 ("the better half goes on"). Stages whose sample would
be smaller than ``min_sample_rows`` are skipped: ranks on a few dozen rows
are noise, and those fits are cheap anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import optuna
from optuna.pruners import BasePruner, HyperbandPruner, NopPruner, SuccessiveHalvingPruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from airflow_mlops.automl.modes import PRUNERS, PrunerKind

#: The sample fractions of DataRobot's Autopilot.
STAGE_FRACTIONS: tuple[float, ...] = (0.16, 0.32, 0.64, 1.0)
#: Each stage keeps the better 1/REDUCTION_FACTOR of the candidates.
REDUCTION_FACTOR = 2
#: No candidate is pruned at a stage before this many candidates were scored there.
MIN_TRIALS_PER_STAGE = 3
#: A stage needs at least this many training rows per fold to be worth running.
MIN_SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class Stage:
    """One rung: the fraction of each training fold used, and the Optuna step it reports at."""

    fraction: float
    step: int


def stage_step(index: int) -> int:
    return int(2**index)


def plan_stages(fold_train_rows: int, min_sample_rows: int = MIN_SAMPLE_ROWS) -> list[Stage]:
    """The stages worth running for folds of this size; the last always uses all rows."""
    stages = [
        Stage(fraction, stage_step(i))
        for i, fraction in enumerate(STAGE_FRACTIONS[:-1])
        if fraction * fold_train_rows >= min_sample_rows
    ]
    return [*stages, Stage(1.0, stage_step(len(STAGE_FRACTIONS) - 1))]


def subsample(
    y: npt.ArrayLike, indices: npt.NDArray[np.intp], fraction: float, seed: int, stratify: bool
) -> npt.NDArray[np.intp]:
    """A seeded sample of ``indices``; per class when stratified, keeping at least 2 rows of each.

    Keeping every class in every sample matters for LogLoss and AUC, which
    fail when a model has never seen a class the validation fold contains.
    Samples are nested (the 32% sample contains the 16% one), like growing
    the training set rather than drawing a new one.
    """
    if fraction >= 1.0:
        return indices
    rng = np.random.default_rng(seed)
    order = indices[rng.permutation(len(indices))]
    if not stratify:
        return np.sort(order[: max(1, math.ceil(fraction * len(order)))])
    labels = np.asarray(y)[order]
    keep: list[npt.NDArray[np.intp]] = []
    for label in np.unique(labels):
        rows = order[labels == label]
        keep.append(rows[: min(len(rows), max(2, math.ceil(fraction * len(rows))))])
    return np.sort(np.concatenate(keep))


class StagedPruner(BasePruner):
    """Successive halving or Hyperband over stages, silent until a stage has enough candidates.

    Optuna's pruners prune the second candidate at a rung if it is worse than
    the first; with warm starts of different families arriving one by one,
    that would let whichever family ran first eliminate the next on one
    comparison. The wrapped pruner still records every rung value (so later
    candidates compete against them); its verdict only counts once at least
    ``min_trials`` candidates have reached the rung.
    """

    def __init__(self, inner: BasePruner, min_trials: int = MIN_TRIALS_PER_STAGE) -> None:
        self._inner = inner
        self._min_trials = min_trials

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        verdict = self._inner.prune(study, trial)
        step = trial.last_step
        if not verdict or step is None:
            return False
        return len(stage_values(study, step, exclude=trial.number)) + 1 >= self._min_trials


def make_pruner(
    kind: PrunerKind, stages: Sequence[Stage], min_trials: int = MIN_TRIALS_PER_STAGE
) -> BasePruner:
    """The study's pruner for this plan of stages (no pruning with a single stage)."""
    if kind not in PRUNERS:
        raise ValueError(f"pruner={kind!r} is not valid; expected one of {', '.join(map(repr, PRUNERS))}")
    if kind == "none" or len(stages) < 2:
        return NopPruner()
    first, last = stages[0].step, stages[-1].step
    inner: BasePruner
    if kind == "hyperband":
        inner = HyperbandPruner(min_resource=first, max_resource=last, reduction_factor=REDUCTION_FACTOR)
    else:
        inner = SuccessiveHalvingPruner(min_resource=first, reduction_factor=REDUCTION_FACTOR)
    return StagedPruner(inner, min_trials)


def stage_values(study: optuna.Study, step: int, exclude: int | None = None) -> list[float]:
    """Every other candidate's score at a stage (finished or pruned there or later)."""
    values: list[float] = []
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if other.number == exclude:
            continue
        value = other.intermediate_values.get(step)
        if value is not None and math.isfinite(value):
            values.append(float(value))
    return values


def is_hopeless(
    fold_scores: Sequence[float], others: Sequence[float], direction: StudyDirection, min_trials: int
) -> bool:
    """Whether the candidate's folds so far are worse than every other candidate's stage score.

    Needs ``min_trials`` other candidates to compare with, so a lone early
    candidate is never stopped on its first fold's noise.
    """
    if not fold_scores or len(others) < min_trials:
        return False
    mean = float(np.mean(fold_scores))
    if direction == StudyDirection.MAXIMIZE:
        return mean < min(others)
    return mean > max(others)
