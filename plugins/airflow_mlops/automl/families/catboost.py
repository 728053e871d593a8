"""CatBoost gradient boosting (optional): registered only when the ``catboost`` package is installed."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder

from airflow_mlops.automl.families.base import TrialLike
from airflow_mlops.automl.task import TaskType

MAX_ESTIMATORS = 1000


def available() -> bool:
    """Whether the optional dependency is importable (checked without importing it)."""
    try:
        return importlib.util.find_spec("catboost") is not None
    except (ImportError, ValueError):  # a broken install, or the module blocked in sys.modules
        return False


class _CatBoostModel(BaseEstimator):
    """CatBoost behind scikit-learn's estimator contract, which CatBoost's own wrappers break.

    CatBoost copies the ``cat_features`` list it is given, so scikit-learn's
    ``clone`` refuses its estimators, and it refuses a tuple; its multiclass
    ``predict`` answers a column rather than labels. Here ``cat_features`` is
    a tuple (clone-safe) turned into a list only when CatBoost is built at fit
    time, and predictions have the shape every other family gives. No files
    are written (CatBoost's default is a ``catboost_info`` directory in the
    working directory) and nothing is printed.
    """

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.1,
        depth: int = 6,
        l2_leaf_reg: float = 3.0,
        random_strength: float = 1.0,
        cat_features: tuple[int, ...] = (),
        thread_count: int = 1,
        random_seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.depth = depth
        self.l2_leaf_reg = l2_leaf_reg
        self.random_strength = random_strength
        self.cat_features = cat_features
        self.thread_count = thread_count
        self.random_seed = random_seed

    def _build(self, cls: Any) -> Any:
        return cls(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            depth=self.depth,
            l2_leaf_reg=self.l2_leaf_reg,
            random_strength=self.random_strength,
            cat_features=list(self.cat_features),
            thread_count=self.thread_count,
            random_seed=self.random_seed,
            verbose=False,
            allow_writing_files=False,
        )


class CatBoostClassifierModel(ClassifierMixin, _CatBoostModel):
    """CatBoost classification, answering in the original labels (a vector, also for multiclass)."""

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> CatBoostClassifierModel:
        import catboost

        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        self.estimator_ = self._build(catboost.CatBoostClassifier).fit(X, encoder.transform(y))
        return self

    def predict_proba(self, X: npt.ArrayLike) -> Any:
        return self.estimator_.predict_proba(X)

    def predict(self, X: npt.ArrayLike) -> Any:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class CatBoostRegressorModel(RegressorMixin, _CatBoostModel):
    """CatBoost regression (RMSE loss)."""

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> CatBoostRegressorModel:
        import catboost

        self.estimator_ = self._build(catboost.CatBoostRegressor).fit(X, np.asarray(y, dtype=float))
        return self

    def predict(self, X: npt.ArrayLike) -> Any:
        return np.asarray(self.estimator_.predict(X), dtype=float).ravel()


class CatBoostFamily:
    """Symmetric (oblivious) boosted trees with CatBoost's own categorical handling.

    Chosen for high-cardinality categoricals: CatBoost encodes them itself with
    ordered target statistics (each row's encoding sees only the rows before it
    in a random permutation) plus combinations of categories, which is stronger
    than one fixed encoding. So ``native_categoricals`` asks the pipeline to hand
    it category columns as strings, not encoded numbers. The search space
    follows CatBoost's tuning guide: rounds and learning rate on a log scale,
    depth (at most 8: a symmetric tree of depth 10 has 1,024 leaves and one such
    candidate can take minutes on two cores, more than a sweep's budget can
    absorb), L2 leaf regularisation, random strength. Threads come from the
    sweep's ``n_jobs`` (``thread_count``; CatBoost would otherwise take every
    core). The estimators are this module's wrappers (:class:`_CatBoostModel`).
    """

    name = "catboost"
    tasks: frozenset[TaskType] = frozenset({"binary", "multiclass", "regression"})
    needs_scaling = False
    #: The pipeline passes categorical columns as strings and names them in ``cat_features``.
    native_categoricals = True
    #: The sweep sets the thread count on the estimator, under CatBoost's name for it.
    parallel = True
    n_jobs_param = "thread_count"

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": 300,
            "learning_rate": 0.1,
            "depth": 6,
            "l2_leaf_reg": 3.0,
            "random_strength": 1.0,
        }

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, MAX_ESTIMATORS, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "depth": trial.suggest_int("depth", 3, 8),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
            "random_strength": trial.suggest_float("random_strength", 0.1, 10.0, log=True),
        }

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        # One thread and no categorical columns until the pipeline says otherwise.
        cls = CatBoostRegressorModel if task == "regression" else CatBoostClassifierModel
        return cls(**params, random_seed=seed)


FAMILY = CatBoostFamily()
