"""Penalised linear models: fast, hard to overfit, and a baseline every sweep should beat."""

from __future__ import annotations

from typing import Any

from sklearn.linear_model import LogisticRegression, Ridge

from airflow_mlops.automl.families.base import TrialLike
from airflow_mlops.automl.task import TaskType


class LinearFamily:
    """LogisticRegression for classes, Ridge for amounts.

    Only the penalty strength is searched: it is the one knob that matters
    once features are standardised, which is why ``needs_scaling`` is set.
    """

    name = "linear"
    tasks: frozenset[TaskType] = frozenset({"binary", "multiclass", "regression"})
    needs_scaling = True

    def default_params(self, task: TaskType) -> dict[str, Any]:
        if task == "regression":
            return {"alpha": 1.0}
        return {"C": 1.0, "class_weight": None}

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        if task == "regression":
            return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}
        return {
            "C": trial.suggest_float("C", 1e-3, 1e2, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
        }

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        if task == "regression":
            return Ridge(**params)
        # max_iter well above the default: lbfgs on many one-hot columns can need it.
        return LogisticRegression(**params, max_iter=1000, random_state=seed)


FAMILY = LinearFamily()
