"""Histogram gradient boosting: usually the strongest family on tabular data."""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from airflow_mlops.automl.families.base import TrialLike
from airflow_mlops.automl.task import TaskType

MAX_ITER = 200


class HistGradientBoostingFamily:
    """Boosted trees with a fixed number of rounds.

    Early stopping is off: it would carve its own validation split out of each
    CV fold, making scores depend on that split and trial cost unpredictable.
    The round count is searched instead.
    """

    name = "hist_gradient_boosting"
    tasks: frozenset[TaskType] = frozenset({"binary", "multiclass", "regression"})
    needs_scaling = False

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {
            "learning_rate": 0.1,
            "max_iter": 100,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
        }

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_iter": trial.suggest_int("max_iter", 50, MAX_ITER, step=25),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 64, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 100, log=True),
            "l2_regularization": trial.suggest_float("l2_regularization", 0.0, 1.0),
        }

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
        return cls(**params, early_stopping=False, random_state=seed)


FAMILY = HistGradientBoostingFamily()
