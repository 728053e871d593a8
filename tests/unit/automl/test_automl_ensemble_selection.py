"""Greedy ensemble selection: a case worked by hand, the cost bound, and never worse than its best member."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from airflow_mlops.automl.ensemble import greedy_selection

Y = np.array([0.0, 2.0])
#: Worked by hand with score = -MSE against Y = [0, 2]:
#: alone A scores -1, B -2, C -4; step 2 adds B ((A+B)/2 = [0.5, 2.5]: -0.25); step 3 adds A
#: ((2A+B)/3 = [2/3, 2]: -2/9); step 4's best, adding B again ([0.5, 2.5]), is worse (-0.25),
#: so the ensemble kept is step 3's: weights 2/3, 1/3, 0.
A, B, C = np.array([1.0, 1.0]), np.array([0.0, 4.0]), np.array([2.0, 0.0])


def _neg_mse(blend: np.ndarray) -> float:
    return -float(np.mean((blend - Y) ** 2))


def test_a_case_worked_by_hand() -> None:
    selection = greedy_selection([A, B, C], _neg_mse, n_steps=4)
    assert selection.weights.tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert selection.score == pytest.approx(-2 / 9)
    assert selection.history == pytest.approx((-1.0, -0.25, -2 / 9, -0.25))
    assert selection.members == [0, 1]


def test_a_member_too_costly_for_what_is_left_is_never_chosen() -> None:
    selection = greedy_selection([A, B, C], _neg_mse, n_steps=4, costs=[1.0, 10.0, 1.0], max_cost=5.0)
    # Without B, adding C to A only hurts ((A+C)/2 = [1.5, 0.5]: -2.25), so A alone stays best.
    assert selection.weights.tolist() == [1.0, 0.0, 0.0]
    assert selection.score == pytest.approx(-1.0)


def test_nothing_affordable_is_an_error_naming_the_cheapest() -> None:
    with pytest.raises(ValueError, match=r"max_cost=0\.5; the cheapest costs 1"):
        greedy_selection([A, B], _neg_mse, costs=[1.0, 2.0], max_cost=0.5)


def test_predictions_of_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"predictions\[1\] has shape \(3,\)"):
        greedy_selection([A, np.zeros(3)], _neg_mse)


@pytest.mark.parametrize("seed", range(5))
def test_never_worse_than_its_best_member_on_the_data_it_was_selected_on(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 300)
    # Eight noisy probability models of a 3-class target, some better than others.
    candidates = []
    for noise in np.linspace(0.5, 3.0, 8):
        logits = np.eye(3)[y] * 2 + rng.normal(scale=noise, size=(300, 3))
        candidates.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))

    def score(blend: np.ndarray) -> float:
        return -log_loss(y, blend, labels=[0, 1, 2])

    selection = greedy_selection(candidates, score)
    best_single = max(score(p) for p in candidates)
    assert selection.score >= best_single
    recomputed = score(sum(w * p for w, p in zip(selection.weights, candidates, strict=True)))
    assert recomputed == pytest.approx(selection.score), "the score is the blend's, not a running estimate"
    assert selection.weights.sum() == pytest.approx(1.0)
