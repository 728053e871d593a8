"""Greedy ensemble selection with replacement (Caruana et al., ICML 2004), as AutoGluon blends its models.

Start from nothing; at each step add the candidate (one already chosen may
be chosen again) whose addition makes the average of the chosen
predictions score best; the weights are how often each was chosen. The
ensemble kept is the best one seen over the steps, so it is never worse, on
the predictions it was selected on, than the best single candidate (the
first step picks exactly that one). Selection sees only predictions, so it
is cheap next to fitting: the members' out-of-fold predictions are reused.

``costs``/``max_cost`` bound what the distinct members cost together (the
sweep passes each candidate's estimated refit time and the time left):
choosing a member again is free, a new member must fit what is left.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["N_STEPS", "Selection", "greedy_selection"]

#: Steps of the greedy loop: weights are multiples of 1/N_STEPS.
N_STEPS = 25

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Selection:
    """The chosen weights (one per candidate, summing to 1) and their score on the selection data."""

    weights: npt.NDArray[np.float64]
    score: float
    history: tuple[float, ...]

    @property
    def members(self) -> list[int]:
        """Indices of the candidates with a non-zero weight."""
        return [int(i) for i in np.flatnonzero(self.weights)]


def greedy_selection(
    predictions: Sequence[Array],
    score: Callable[[Array], float],
    *,
    n_steps: int = N_STEPS,
    costs: Sequence[float] | None = None,
    max_cost: float = math.inf,
    should_stop: Callable[[], bool] | None = None,
) -> Selection:
    """Weights for ``predictions`` (same shape each) maximising ``score`` of their weighted mean.

    ``score`` is greater-is-better. Ties go to the earlier candidate, so pass
    the candidates best first. ``should_stop`` is asked before each step (a
    deadline); the best ensemble so far is returned. Raises ``ValueError``
    when no candidate is affordable or there are none.
    """
    if not predictions:
        raise ValueError("greedy_selection needs at least one candidate's predictions")
    shape = predictions[0].shape
    for index, pred in enumerate(predictions):
        if pred.shape != shape:
            raise ValueError(f"predictions[{index}] has shape {pred.shape}; predictions[0] has {shape}")
    cost = [0.0] * len(predictions) if costs is None else [float(c) for c in costs]
    if len(cost) != len(predictions):
        raise ValueError(f"{len(cost)} costs for {len(predictions)} candidates")
    counts = np.zeros(len(predictions), dtype=np.int64)
    total = np.zeros(shape, dtype=np.float64)
    spent = 0.0
    best_score, best_counts = -math.inf, counts.copy()
    history: list[float] = []
    for step in range(1, n_steps + 1):
        if should_stop is not None and history and should_stop():
            break
        choice, choice_score = -1, -math.inf
        for index, pred in enumerate(predictions):
            if counts[index] == 0 and spent + cost[index] > max_cost:
                continue
            value = score((total + pred) / step)
            if value > choice_score:
                choice, choice_score = index, value
        if choice < 0:
            break
        if counts[choice] == 0:
            spent += cost[choice]
        counts[choice] += 1
        total += predictions[choice]
        history.append(choice_score)
        if choice_score > best_score:
            best_score, best_counts = choice_score, counts.copy()
    if not history:
        raise ValueError(f"no candidate fits max_cost={max_cost:g}; the cheapest costs {min(cost):g}")
    return Selection(best_counts / best_counts.sum(), float(best_score), tuple(history))
