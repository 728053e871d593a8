"""XGBoost gradient boosting (optional): registered only when the ``xgboost`` package is installed."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.preprocessing import LabelEncoder

from airflow_mlops.automl.families.base import TrialLike
from airflow_mlops.automl.task import TaskType

MAX_ESTIMATORS = 1000


def available() -> bool:
    """Whether the optional dependency is importable (checked without importing it)."""
    try:
        return importlib.util.find_spec("xgboost") is not None
    except (ImportError, ValueError):  # a broken install, or the module blocked in sys.modules
        return False


class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier fitted on class indices, answering in the original labels.

    XGBoost only accepts labels 0..n-1; targets here are often strings
    ("Yes"/"No"). Encoding inside the model keeps the pipeline's contract
    (``classes_`` and predictions in the user's labels) for serving.
    """

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> LabelEncodedClassifier:
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        self.estimator_ = clone(self.estimator).fit(X, encoder.transform(y))
        return self

    def predict_proba(self, X: npt.ArrayLike) -> Any:
        return self.estimator_.predict_proba(X)

    def predict(self, X: npt.ArrayLike) -> Any:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class XGBoostFamily:
    """Depth-wise boosted trees with the histogram method; defaults are XGBoost's own."""

    name = "xgboost"
    tasks: frozenset[TaskType] = frozenset({"binary", "multiclass", "regression"})
    needs_scaling = False
    #: The sweep sets ``n_jobs`` on the estimator.
    parallel = True

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": 200,
            "learning_rate": 0.1,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
            "reg_lambda": 1.0,
        }

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, MAX_ESTIMATORS, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        }

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        import xgboost

        if task == "regression":
            return xgboost.XGBRegressor(**params, tree_method="hist", random_state=seed)
        return LabelEncodedClassifier(xgboost.XGBClassifier(**params, tree_method="hist", random_state=seed))


FAMILY = XGBoostFamily()
