"""Extremely randomized trees: a forest that is faster to fit and often smoother than random forest."""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

from airflow_mlops.automl.families.base import TrialLike
from airflow_mlops.automl.task import TaskType

MAX_ESTIMATORS = 300


class ExtraTreesFamily:
    """Random split thresholds instead of the best ones: more bias, less variance, cheaper trials.

    ``n_jobs`` is set by the sweep (``parallel``), which knows how many cores a worker has.
    """

    name = "extra_trees"
    tasks: frozenset[TaskType] = frozenset({"binary", "multiclass", "regression"})
    needs_scaling = False
    #: The sweep sets ``n_jobs`` on the estimator.
    parallel = True

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": 150,
            "max_features": 1.0 if task == "regression" else "sqrt",
            "min_samples_leaf": 1,
            "bootstrap": False,
        }

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, MAX_ESTIMATORS, step=50),
            "max_features": trial.suggest_categorical("max_features", ["sqrt", 0.5, 1.0]),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 32, log=True),
            "bootstrap": trial.suggest_categorical("bootstrap", [False, True]),
        }

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        cls = ExtraTreesRegressor if task == "regression" else ExtraTreesClassifier
        return cls(**params, random_state=seed)


FAMILY = ExtraTreesFamily()
