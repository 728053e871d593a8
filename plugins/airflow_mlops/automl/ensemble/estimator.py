"""The ensemble as a model: a weighted average of its members' full pipelines, over the raw input frame.

A scikit-learn estimator like any family's pipeline, so everything
downstream treats it alike: MLflow saves it with skops (this module is under
``airflow_mlops.``, which the registry trusts), serving calls ``predict`` /
``predict_proba`` on request rows, permutation importance shuffles raw
columns, monitoring reads ``classes_``. Unfitted, it is only the members'
families and parameters and their weights, so the refit rebuilds it the way
it rebuilds a single candidate (:func:`~airflow_mlops.automl.fit_pipeline`
with family ``"ensemble"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from airflow_mlops.automl.pipeline import build_pipeline
from airflow_mlops.automl.preprocess import FeatureType
from airflow_mlops.automl.task import validate_task

__all__ = ["ENSEMBLE_FAMILY", "WeightedEnsemble", "check_members"]

#: The leaderboard's family name for an ensemble, and what a refit spec names to rebuild one.
ENSEMBLE_FAMILY = "ensemble"


def check_members(members: Any, weights: Any) -> tuple[list[dict[str, Any]], list[float]]:
    """Members as ``[{"family": str, "params": dict}, ...]`` and as many positive weights."""
    if not isinstance(members, Sequence) or isinstance(members, str) or not members:
        raise ValueError(f"members must be a non-empty list of {{'family', 'params'}}, got {members!r}")
    checked: list[dict[str, Any]] = []
    for index, member in enumerate(members):
        if not isinstance(member, Mapping) or not isinstance(member.get("family"), str):
            raise ValueError(f"members[{index}] must be a dict with a 'family' name, got {member!r}")
        if member["family"] == ENSEMBLE_FAMILY:
            raise ValueError(f"members[{index}] is itself an ensemble; members must be single models")
        checked.append({"family": member["family"], "params": dict(member.get("params") or {})})
    values = [float(w) for w in weights] if isinstance(weights, Sequence | np.ndarray) else []
    if len(values) != len(checked) or not all(np.isfinite(w) and w > 0 for w in values):
        raise ValueError(f"weights must be {len(checked)} positive numbers, one per member, got {weights!r}")
    return checked, values


class WeightedEnsemble(BaseEstimator):
    """Weighted mean of the members' probabilities (classification) or predictions (regression).

    Classification predicts the class of highest blended probability, the
    way the sweep scored the blend. Each member is the same
    preprocessor + estimator pipeline the sweep cross-validated.
    """

    def __init__(
        self,
        members: Sequence[Mapping[str, Any]] = (),
        weights: Sequence[float] = (),
        task: str = "regression",
        seed: int = 0,
        feature_types: Mapping[str, FeatureType] | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.members = members
        self.weights = weights
        self.task = task
        self.seed = seed
        self.feature_types = feature_types
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, RegressorTags

        tags = super().__sklearn_tags__()
        if self.task == "regression":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        else:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        return tags

    def _is_classifier(self) -> bool:
        return self.task != "regression"

    def fit(self, X: pd.DataFrame, y: pd.Series) -> WeightedEnsemble:
        """Fit every member's pipeline on the same rows."""

        task = validate_task(self.task)
        members, weights = check_members(self.members, self.weights)
        if not isinstance(X, pd.DataFrame):
            raise ValueError(f"X must be a DataFrame of raw columns, got {type(X).__name__}")
        types = dict(self.feature_types) if self.feature_types is not None else None
        if types is None:
            from airflow_mlops.automl.preprocess import infer_feature_types

            types = infer_feature_types(X.assign(**{"__target__": np.asarray(y)}), "__target__")
        fitted: list[Pipeline] = []
        for member in members:
            pipeline = build_pipeline(member["family"], member["params"], task, self.seed, types, self.n_jobs)
            fitted.append(pipeline.fit(X, y))
        self.members_ = fitted
        self.weights_ = np.asarray(weights, dtype=np.float64) / sum(weights)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        if self._is_classifier():
            self.classes_ = fitted[0].classes_
            for index, pipeline in enumerate(fitted[1:], start=1):
                if not np.array_equal(pipeline.classes_, self.classes_):
                    raise ValueError(
                        f"member {index} learned classes {pipeline.classes_}, not {self.classes_}"
                    )
        return self

    @available_if(_is_classifier)
    def predict_proba(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        check_is_fitted(self, "members_")
        blend = sum(w * m.predict_proba(X) for w, m in zip(self.weights_, self.members_, strict=True))
        return np.asarray(blend, dtype=np.float64)

    def predict(self, X: pd.DataFrame) -> npt.NDArray[Any]:
        check_is_fitted(self, "members_")
        if self._is_classifier():
            return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])
        blend = sum(w * m.predict(X) for w, m in zip(self.weights_, self.members_, strict=True))
        return np.asarray(blend, dtype=np.float64)
