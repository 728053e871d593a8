"""Random forests: robust with default settings, little tuning needed."""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from airflow_mlops.automl.families.base import TrialLike
from airflow_mlops.automl.task import TaskType

#: Trees are capped so one trial stays around a second on a few thousand rows;
#: past a couple of hundred trees a forest gains little.
MAX_ESTIMATORS = 200


class RandomForestFamily:
    """Bagged trees; ``n_jobs`` is set by the sweep (``parallel``), which knows how many cores a worker has."""

    name = "random_forest"
    tasks: frozenset[TaskType] = frozenset({"binary", "multiclass", "regression"})
    needs_scaling = False
    #: The sweep sets ``n_jobs`` on the estimator.
    parallel = True

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": 100,
            "max_depth": None,
            "min_samples_leaf": 1,
            # scikit-learn's own defaults per task.
            "max_features": 1.0 if task == "regression" else "sqrt",
        }

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, MAX_ESTIMATORS, step=25),
            "max_depth": trial.suggest_categorical("max_depth", [None, 4, 8, 16]),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 32, log=True),
            "max_features": trial.suggest_categorical("max_features", ["sqrt", 0.5, 1.0]),
        }

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
        return cls(**params, random_state=seed)


FAMILY = RandomForestFamily()
