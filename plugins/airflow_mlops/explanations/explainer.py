"""SHAP values for a fitted AutoML model, per original column, adding up to the model's raw output.

Which explainer a model gets, and what its contributions add up to (the
"raw output"; ``Explanation.output`` names it):

============================  =====================  ==========================================
model                         explainer              raw output (classification; regression:
                                                     the predicted value)
============================  =====================  ==========================================
linear (LogisticRegression,   ``shap.LinearExplainer``  log-odds of the positive class (binary),
Ridge)                        over the background    the class's decision score (multiclass)
random_forest, extra_trees    ``shap.TreeExplainer`` probability of the class
hist_gradient_boosting,       ``shap.TreeExplainer`` log-odds (binary), the class's raw score
lightgbm, xgboost, catboost                          before softmax (multiclass)
anything else (knn, a         permutation sampling   probability of the class
weighted ensemble)            (:mod:`.permutation`)
============================  =====================  ==========================================

Tree and linear models are explained on the pipeline's transformed features
(exact SHAP values: tree-path-dependent for trees, so they need no
background; interventional for linear models, whose base value is the
output at the background's mean) and summed back to original columns
(:mod:`.columns`). The others are explained directly per original column
against a small background sample of training rows. In every case,
per row, ``values.sum(axis=1) + base`` equals the raw output.

So only tree models can be explained without training rows (a deployment
whose baseline keeps none, e.g. one made through DataRobot's
``fromModelPackage/``): :func:`needs_background` says which, and
:class:`ModelExplainer` refuses the others with :class:`NoBackgroundError`.

Binary models explain the positive class (``classes_[1]``); multiclass
models explain the class each row asks for (by default the predicted one).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from airflow_mlops.explanations.columns import group_matrix, source_columns
from airflow_mlops.explanations.permutation import permutation_shapley

__all__ = [
    "BACKGROUND_ROWS",
    "Explanation",
    "ModelExplainer",
    "NoBackgroundError",
    "explainer_kind",
    "needs_background",
]

#: Background rows for the model-agnostic path: each explained row costs about 2 (d + 1) x this many
#: model evaluations, d the number of columns.
BACKGROUND_ROWS = 20
#: Tree estimators ``shap.TreeExplainer`` reads exactly (by class name, wherever the class lives).
_TREE_CLASSES = frozenset(
    {
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "LGBMClassifier",
        "LGBMRegressor",
        "XGBClassifier",
        "XGBRegressor",
        "CatBoostClassifier",
        "CatBoostRegressor",
    }
)
#: Tree models whose trees hold class frequencies, so their raw output is a probability.
_PROBABILITY_TREES = frozenset(
    {"RandomForestClassifier", "ExtraTreesClassifier", "RandomForestRegressor", "ExtraTreesRegressor"}
)
_LINEAR_CLASSES = frozenset({"LogisticRegression", "Ridge", "LinearRegression", "ElasticNet", "Lasso"})

Kind = Literal["tree", "linear", "permutation"]
Output = Literal["log-odds", "probability", "class score", "value"]


@dataclass(frozen=True)
class Explanation:
    """Contributions per original column for some rows, and what they add up to.

    ``values[i, j]``: column ``features[j]``'s contribution to row ``i``'s
    raw output for class ``class_index[i]`` (``None`` for regression);
    ``base[i] + values[i].sum()`` is that output (``output`` says in what units).
    """

    features: list[str]
    values: npt.NDArray[np.float64]
    base: npt.NDArray[np.float64]
    class_index: npt.NDArray[np.intp] | None
    output: Output
    kind: Kind


def _unwrap(estimator: Any) -> Any:
    """The library estimator inside our label-encoding wrappers (XGBoost, CatBoost), else itself."""
    inner = getattr(estimator, "estimator_", None)
    if inner is not None and type(estimator).__module__.startswith("airflow_mlops."):
        return inner
    return estimator


def _split(model: Any) -> tuple[ColumnTransformer, Any] | None:
    """(preprocess, estimator) of an AutoML ``Pipeline(ColumnTransformer, estimator)``, else None."""
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    preprocess, estimator = model.steps[0][1], model.steps[1][1]
    if not isinstance(preprocess, ColumnTransformer):
        return None
    return preprocess, estimator


def explainer_kind(model: Any) -> Kind:
    """``tree``, ``linear`` or ``permutation``: how :class:`ModelExplainer` explains ``model``."""
    parts = _split(model)
    if parts is None:
        return "permutation"
    name = type(_unwrap(parts[1])).__name__
    if name in _TREE_CLASSES:
        return "tree"
    if name in _LINEAR_CLASSES:
        return "linear"
    return "permutation"


def needs_background(model: Any) -> bool:
    """Whether explaining ``model`` needs training rows: all but tree models (tree-path-dependent SHAP)."""
    return explainer_kind(model) != "tree"


class NoBackgroundError(ValueError):
    """A model whose explainer needs training rows was given none."""


class ModelExplainer:
    """Explains rows of one fitted model; built once per loaded model, used by many requests.

    ``model``: an AutoML pipeline or any estimator over the raw frame with
    ``predict_proba`` (classification) or ``predict`` (a weighted ensemble).
    ``background``: training rows in the model's feature columns, as a
    request would send them; the linear explainer uses them all (their
    mean is its reference), the permutation path the first
    :data:`BACKGROUND_ROWS`, tree models none (``None`` or empty is fine
    for them; the others raise :class:`NoBackgroundError`). Thread-safe:
    shap's explainers are only read.
    """

    def __init__(self, model: Any, background: pd.DataFrame | None, *, seed: int = 0) -> None:
        self.kind: Kind = explainer_kind(model)
        if background is not None and len(background) == 0:
            background = None
        if background is None and self.kind != "tree":
            raise NoBackgroundError(
                f"no training rows to explain against: a {type(model).__name__} with the {self.kind} "
                "explainer needs a background sample (only tree models are explained without one)"
            )
        features = getattr(model, "feature_names_in_", None)
        if features is None:
            if background is None:
                raise ValueError("the model does not name its feature columns and there is no background")
            features = background.columns
        self.features: list[str] = [str(c) for c in features]
        if background is not None:
            missing = [c for c in self.features if c not in background.columns]
            if missing:
                raise ValueError(f"the background sample lacks the model's feature columns {missing}")
        self.model = model
        self.seed = seed
        self.classifier = bool(is_classifier(model))
        self.classes: list[Any] | None = list(model.classes_) if self.classifier else None
        self._background = None if background is None else background[self.features].reset_index(drop=True)
        self._lock = threading.Lock()
        self._explainer: Any = None
        self._groups: npt.NDArray[np.float64] | None = None
        self.output: Output = self._output()

    def _output(self) -> Output:
        if not self.classifier:
            return "value"
        if self.kind == "permutation":
            return "probability"
        name = type(_unwrap(self.model.steps[1][1])).__name__
        if name in _PROBABILITY_TREES:
            return "probability"
        return "log-odds" if len(self.classes or []) == 2 else "class score"

    def _shap(self) -> tuple[Any, npt.NDArray[np.float64]]:
        """The shap explainer and the transformed → original group matrix, built on first use."""
        with self._lock:
            if self._explainer is None:
                import shap  # imported on first use: serving without explanations never pays for it

                preprocess, estimator = self.model.steps[0][1], _unwrap(self.model.steps[1][1])
                groups = group_matrix(source_columns(preprocess), self.features)
                if self.kind == "tree":
                    explainer = shap.TreeExplainer(estimator, feature_perturbation="tree_path_dependent")
                else:
                    assert self._background is not None  # refused at construction
                    reference = np.asarray(preprocess.transform(self._background), dtype=np.float64)
                    explainer = shap.LinearExplainer(
                        estimator, shap.maskers.Independent(reference, len(reference))
                    )
                self._explainer, self._groups = explainer, groups
            assert self._groups is not None
            return self._explainer, self._groups

    def default_classes(self, rows: pd.DataFrame) -> npt.NDArray[np.intp] | None:
        """The class each row explains by default: binary the positive one, multiclass the predicted one."""
        if not self.classifier:
            return None
        if len(self.classes or []) == 2:
            return np.ones(len(rows), dtype=np.intp)
        return np.asarray(np.argmax(self.model.predict_proba(rows[self.features]), axis=1), dtype=np.intp)

    def explain(self, rows: pd.DataFrame, class_index: npt.ArrayLike | None = None) -> Explanation:
        """Contributions of each original column to each row's raw output (see the module docstring)."""
        frame = rows[self.features].reset_index(drop=True)
        classes = (
            self.default_classes(frame)
            if class_index is None
            else np.asarray(class_index, dtype=np.intp).reshape(len(frame))
        )
        if self.kind == "permutation":
            assert self._background is not None  # refused at construction
            values, base = permutation_shapley(
                self.model.predict_proba if self.classifier else self.model.predict,
                frame,
                self._background.head(BACKGROUND_ROWS),
                classes,
                seed=self.seed,
            )
            return Explanation(self.features, values, base, classes, self.output, self.kind)
        explainer, groups = self._shap()
        transformed = self.model.steps[0][1].transform(frame)
        if self.kind == "linear":
            transformed = np.asarray(transformed, dtype=np.float64)
        raw = explainer.shap_values(transformed)
        expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
        per_class = np.stack(raw, axis=-1) if isinstance(raw, list) else np.asarray(raw, dtype=np.float64)
        if per_class.ndim == 2:
            per_class = per_class[:, :, None]
        n = len(frame)
        # Regression, or a binary model that explains one output (the positive class's log-odds): column 0.
        one_output = classes is None or per_class.shape[2] == 1
        pick = np.zeros(n, dtype=np.intp) if one_output or classes is None else classes
        values = per_class[np.arange(n), :, pick] @ groups
        base = expected[pick] if len(expected) > 1 else np.full(n, expected[0])
        return Explanation(self.features, values, base, classes, self.output, self.kind)
