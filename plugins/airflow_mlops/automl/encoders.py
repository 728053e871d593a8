"""High-cardinality categoricals: the encodings on offer, and the search choosing among them.

One-hot is useless for a column with hundreds of values (agents, shops,
postcodes): most would be pooled as "infrequent". Two encodings keep one
number per column instead, and which is better depends on the data, so the
sweep's search picks it per candidate (an Optuna parameter,
:data:`ENCODING_PARAM`) rather than a fixed rule:

- ``target``: scikit-learn's ``TargetEncoder``, cross-fitted (each training
  row is encoded by a model of the other folds, so its own target never
  leaks), shrunk towards the overall mean for rare values; unseen values get
  the mean;
- ``frequency``: the share of training rows with the value (how common a
  shop is often predicts on its own, and it cannot leak the target); unseen
  values get 0;
- ``target_and_frequency``: both, side by side.

Families that encode categories themselves (CatBoost) are not offered the
choice: the parameter would be noise to the search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from airflow_mlops.automl.families.base import ModelFamily, TrialLike

__all__ = [
    "DEFAULT_ENCODING",
    "ENCODING_PARAM",
    "HIGH_CARDINALITY_ENCODINGS",
    "OPTUNA_ENCODING_PARAM",
    "FrequencyEncoder",
    "HighCardinalityEncoding",
    "encoding_of",
    "searches_encoding",
    "suggest_encoding",
]

HighCardinalityEncoding = Literal["target", "frequency", "target_and_frequency"]
HIGH_CARDINALITY_ENCODINGS: tuple[HighCardinalityEncoding, ...] = (
    "target",
    "frequency",
    "target_and_frequency",
)
#: What warm starts (and any candidate that does not say) use: the encoding before the search chose.
DEFAULT_ENCODING: HighCardinalityEncoding = "target"
#: The key in a candidate's parameters (and the Optuna parameter's name, shared by every family).
ENCODING_PARAM = "high_cardinality_encoding"
#: The Optuna parameter; prefixed like a family's own so it cannot clash with one.
OPTUNA_ENCODING_PARAM = f"preprocess__{ENCODING_PARAM}"


class FrequencyEncoder(TransformerMixin, BaseEstimator):
    """Each value as the share of training rows holding it; unseen values as 0.

    Expects category strings with missing already imputed (so "missing" has
    its own share). ``frequencies_`` is one ``{value: share}`` dict per column.
    """

    def fit(self, X: Any, y: Any = None) -> FrequencyEncoder:
        frame = pd.DataFrame(X)
        self.n_features_in_ = frame.shape[1]
        self.frequencies_: list[dict[str, float]] = [
            {str(k): float(v) for k, v in frame[c].astype(str).value_counts(normalize=True).items()}
            for c in frame.columns
        ]
        return self

    def transform(self, X: Any) -> npt.NDArray[np.float64]:
        check_is_fitted(self, "frequencies_")
        frame = pd.DataFrame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} columns, got {frame.shape[1]}")
        columns = [
            frame[c].astype(str).map(shares).fillna(0.0).to_numpy(dtype=float)
            for c, shares in zip(frame.columns, self.frequencies_, strict=True)
        ]
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        check_is_fitted(self, "frequencies_")
        names = [f"x{i}" for i in range(self.n_features_in_)] if input_features is None else input_features
        return np.asarray([f"{name}_frequency" for name in names], dtype=object)


def encoding_of(params: Mapping[str, Any]) -> HighCardinalityEncoding:
    """The encoding a candidate's parameters ask for (the default when they do not say)."""
    value = params.get(ENCODING_PARAM, DEFAULT_ENCODING)
    if value not in HIGH_CARDINALITY_ENCODINGS:
        raise ValueError(
            f"{ENCODING_PARAM}={value!r} is not an encoding; choose one of {list(HIGH_CARDINALITY_ENCODINGS)}"
        )
    return value  # type: ignore[no-any-return]


def searches_encoding(family: ModelFamily, feature_types: Mapping[str, str]) -> bool:
    """Whether a candidate of ``family`` chooses how high-cardinality columns are encoded.

    Only when there are such columns, and not for a family that encodes
    categories itself (``native_categoricals``): there the parameter would
    only be noise to the search.
    """
    return "high_cardinality" in feature_types.values() and not getattr(family, "native_categoricals", False)


def suggest_encoding(trial: TrialLike) -> dict[str, Any]:
    """The search's choice of encoding, as parameters to merge into the candidate's."""
    choice = trial.suggest_categorical(OPTUNA_ENCODING_PARAM, list(HIGH_CARDINALITY_ENCODINGS))
    return {ENCODING_PARAM: choice}
