"""Explanations in DataRobot's ``predictionExplanations`` shape, and its qualitative strengths.

Per row, the top N columns by absolute strength (ties: the model's column
order), each as ``{"label", "feature", "featureValue", "strength",
"qualitativeStrength"}``: ``label`` is what the strength drives (the
positive class for binary, the explained class for multiclass, the target's
name for regression), ``featureValue`` the value the row sent.

``qualitativeStrength`` (DataRobot does not publish its rule; this is ours):
a strength's size relative to the largest absolute strength among *all* the
row's columns, r = |s| / max|s|: r > 0.5 gives three marks, r > 0.2 two,
otherwise one; ``+`` for a positive strength, ``-`` for a negative one (zero
counts as ``+``). A row whose strengths are all 0 gets ``+`` for each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_EXPLANATIONS", "qualitative_strength", "top_explanations"]

#: The most explanations a row may ask for (DataRobot's limit for SHAP explanations).
MAX_EXPLANATIONS = 100
#: Relative sizes at or below which a strength drops from three marks to two, and from two to one.
_THREE, _TWO = 0.5, 0.2


def qualitative_strength(strength: float, largest: float) -> str:
    """``+++``/``++``/``+``/``-``/``--``/``---`` for ``strength`` against the row's ``largest`` |strength|."""
    ratio = abs(strength) / largest if largest > 0 else 0.0
    marks = 3 if ratio > _THREE else 2 if ratio > _TWO else 1
    return ("-" if strength < 0 else "+") * marks


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN/NaT/None as ``None``."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    try:
        if value != value:  # NaT, pd.NA-like
            return None
    except (TypeError, ValueError):
        return str(value)
    return str(value)


def top_explanations(
    values: npt.NDArray[np.float64],
    features: Sequence[str],
    feature_values: Sequence[Sequence[Any]],
    labels: Sequence[Any],
    limit: int,
) -> list[list[dict[str, Any]]]:
    """Each row's ``limit`` strongest columns in DataRobot's shape (``feature_values[j][i]``: column j, row i)."""
    out: list[list[dict[str, Any]]] = []
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :limit]
    largest = np.abs(values).max(axis=1) if values.shape[1] else np.zeros(len(values))
    for i, columns in enumerate(order):
        row = []
        for j in columns:
            strength = float(values[i, j])
            row.append(
                {
                    "label": labels[i],
                    "feature": features[j],
                    "featureValue": _plain(feature_values[j][i]),
                    "strength": strength,
                    "qualitativeStrength": qualitative_strength(strength, float(largest[i])),
                }
            )
        out.append(row)
    return out
