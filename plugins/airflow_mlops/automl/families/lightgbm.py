"""LightGBM gradient boosting (optional): registered only when the ``lightgbm`` package is installed."""

from __future__ import annotations

import importlib.util
from typing import Any

from airflow_mlops.automl.families.base import TrialLike
from airflow_mlops.automl.task import TaskType

MAX_ESTIMATORS = 1000


def available() -> bool:
    """Whether the optional dependency is importable (checked without importing it)."""
    try:
        return importlib.util.find_spec("lightgbm") is not None
    except (ImportError, ValueError):  # a broken install, or the module blocked in sys.modules
        return False


class LightGBMFamily:
    """Leaf-wise boosted trees, usually the strongest and fastest family on tabular data.

    The search space follows FLAML's and LightGBM's own tuning advice: rounds
    and learning rate traded off on a log scale, leaves, minimum child
    samples, row and column subsampling, L1/L2 penalties. The defaults are
    LightGBM's, which are known to be good. ``n_jobs`` is left to OpenMP (all
    cores the sweep's thread limit allows).
    """

    name = "lightgbm"
    tasks: frozenset[TaskType] = frozenset({"binary", "multiclass", "regression"})
    needs_scaling = False
    #: The sweep sets ``n_jobs`` on the estimator.
    parallel = True

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": 200,
            "learning_rate": 0.1,
            "num_leaves": 31,
            "min_child_samples": 20,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
            "reg_alpha": 1e-3,
            "reg_lambda": 1e-3,
        }

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, MAX_ESTIMATORS, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        }

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        import lightgbm

        cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
        # subsample only applies with a bagging frequency; verbose=-1 keeps task logs clean.
        return cls(**params, subsample_freq=1, random_state=seed, verbose=-1)


FAMILY = LightGBMFamily()
