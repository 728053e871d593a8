"""Staged fidelity: the stages, nested samples, and the pruners on real Optuna studies."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.study import StudyDirection

from airflow_mlops.automl.fidelity import (
    STAGE_FRACTIONS,
    Stage,
    StagedPruner,
    is_hopeless,
    make_pruner,
    plan_stages,
    stage_values,
    subsample,
)


def test_stages_follow_datarobot_fractions_and_skip_tiny_samples() -> None:
    assert STAGE_FRACTIONS == (0.16, 0.32, 0.64, 1.0)
    assert plan_stages(10_000, 1000) == [Stage(0.16, 1), Stage(0.32, 2), Stage(0.64, 4), Stage(1.0, 8)]
    assert plan_stages(2000, 1000) == [Stage(0.64, 4), Stage(1.0, 8)]
    assert plan_stages(100, 1000) == [Stage(1.0, 8)]


def test_samples_are_nested_seeded_and_keep_every_class() -> None:
    y = np.array(["a"] * 95 + ["b"] * 5)
    idx = np.arange(100)
    small = subsample(y, idx, 0.16, seed=3, stratify=True)
    large = subsample(y, idx, 0.32, seed=3, stratify=True)
    assert set(small) <= set(large), "a bigger stage grows the smaller stage's sample"
    assert set(y[small]) == {"a", "b"} and (y[small] == "b").sum() >= 2
    assert np.array_equal(small, subsample(y, idx, 0.16, seed=3, stratify=True))
    assert len(subsample(y, idx, 0.5, seed=0, stratify=False)) == 50
    assert np.array_equal(subsample(y, idx, 1.0, seed=0, stratify=True), idx)


def _staged_study(kind: str, stages: list[Stage]) -> optuna.Study:
    return optuna.create_study(direction="maximize", pruner=make_pruner(kind, stages))  # type: ignore[arg-type]


def test_successive_halving_keeps_the_better_half_per_stage() -> None:
    stages = plan_stages(10_000, 1000)
    study = _staged_study("successive_halving", stages)
    assert isinstance(study.pruner, StagedPruner)
    outcomes = []
    for score in (0.9, 0.8, 0.7, 0.6, 0.95, 0.5):
        trial = study.ask()
        trial.report(score, stages[0].step)
        outcomes.append(trial.should_prune())
        if outcomes[-1]:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, score)
    # The first candidates are never pruned (too few to compare); later, only the better half goes on.
    assert outcomes == [False, False, True, True, False, True]
    assert sorted(stage_values(study, stages[0].step)) == [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def test_hyperband_and_none() -> None:
    stages = plan_stages(10_000, 1000)
    assert isinstance(make_pruner("hyperband", stages), StagedPruner)
    assert isinstance(make_pruner("none", stages), optuna.pruners.NopPruner)
    assert isinstance(make_pruner("successive_halving", [Stage(1.0, 8)]), optuna.pruners.NopPruner)
    with pytest.raises(
        ValueError, match="pruner='median' is not valid; expected one of 'successive_halving'"
    ):
        make_pruner("median", stages)  # type: ignore[arg-type]


def test_hopeless_means_worse_than_every_other_candidate() -> None:
    others = [0.8, 0.82, 0.85]
    assert is_hopeless([0.6], others, StudyDirection.MAXIMIZE, 3)
    assert not is_hopeless([0.81], others, StudyDirection.MAXIMIZE, 3)
    assert not is_hopeless([0.6], others[:2], StudyDirection.MAXIMIZE, 3), "too few to compare"
    assert is_hopeless([9.0], [1.0, 2.0, 3.0], StudyDirection.MINIMIZE, 3)
