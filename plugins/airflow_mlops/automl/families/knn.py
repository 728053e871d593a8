"""k-nearest neighbours: no training cost, a different inductive bias from trees and lines."""

from __future__ import annotations

from typing import Any

from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from airflow_mlops.automl.families.base import TrialLike
from airflow_mlops.automl.task import TaskType


class KNeighborsFamily:
    """Distance-based, so it needs scaled inputs (``needs_scaling``); slow to predict on big data,
    which the leaderboard's prediction speed column makes visible."""

    name = "knn"
    tasks: frozenset[TaskType] = frozenset({"binary", "multiclass", "regression"})
    needs_scaling = True
    #: The sweep sets ``n_jobs`` on the estimator.
    parallel = True

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {"n_neighbors": 15, "weights": "distance", "p": 2}

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {
            "n_neighbors": trial.suggest_int("n_neighbors", 3, 100, log=True),
            "weights": trial.suggest_categorical("weights", ["uniform", "distance"]),
            "p": trial.suggest_categorical("p", [1, 2]),
        }

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        cls = KNeighborsRegressor if task == "regression" else KNeighborsClassifier
        return cls(**params)


FAMILY = KNeighborsFamily()
