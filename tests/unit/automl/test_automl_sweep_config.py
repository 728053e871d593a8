"""A sweep's settings are checked when they are made, before any data is read or any run is created."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_mlops.automl import SweepConfig


def _config(**overrides: Any) -> SweepConfig:
    settings: dict[str, Any] = {
        "target": "label",
        "n_trials": 5,
        "families": ["linear", "hist_gradient_boosting", "random_forest"],
        "pruner": "none",
        "seed": 0,
        "n_jobs": 1,
        "experiment_name": "automl-test",
        "tracking_uri": "sqlite:///unused.db",
    }
    settings.update(overrides)
    return SweepConfig(**settings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_trials": 0}, "n_trials=0"),
        ({"cv_folds": 1}, "cv_folds=1"),
        ({"timeout_s": -5}, "timeout_s=-5"),
        ({"seed": -1}, "seed=-1"),
        ({"metric": "Gini"}, "metric='Gini'"),
        ({"task": "ranking"}, "task='ranking'"),
        ({"task": "binary", "metric": "RMSE"}, "'RMSE' does not apply to task 'binary'"),
        ({"families": ["tabpfn"]}, "'tabpfn'"),
        ({"mode": "turbo"}, "mode='turbo'.*'quick', 'auto', 'comprehensive'"),
        ({"pruner": "median"}, "pruner='median'.*'successive_halving'"),
        ({"holdout_fraction": 0.7}, "holdout_fraction=0.7"),
        ({"n_jobs": 0}, "n_jobs=0"),
        ({"experiment_name": ""}, "experiment_name=''"),
        ({"exclude": ["label"]}, "contains the target"),
    ],
)
def test_config_is_validated_on_construction(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config(**overrides)


def test_mode_sets_budgets_unless_overridden() -> None:
    quick = SweepConfig(target="y", mode="quick")
    assert (quick.trial_budget, quick.time_budget_s, quick.pruner_kind) == (16, 120.0, "successive_halving")
    assert SweepConfig(target="y", mode="comprehensive").pruner_kind == "hyperband"
    custom = SweepConfig(target="y", mode="quick", n_trials=3, timeout_s=9, pruner="none")
    assert (custom.trial_budget, custom.time_budget_s, custom.pruner_kind) == (3, 9.0, "none")
