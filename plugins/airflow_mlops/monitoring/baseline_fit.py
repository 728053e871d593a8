"""Fitting a baseline: how training data decides the bins (see :mod:`.baseline` for what they mean).

The bins are fixed once per model version, so this is where their resolution is
chosen: 100 quantile bins, finer tail quantiles and the exact tails beyond the
training range for numbers, up to 500 categories for the rest (the reasons are
in :mod:`.baseline`'s docstring and docs/architecture.md).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from airflow_mlops.monitoring.baseline import (
    Baseline,
    FeatureBins,
    _as_category_text,
    _preview,
    _to_float,
)

__all__ = ["DEFAULT_N_BINS", "DEFAULT_TOP_K", "TAIL_LEVELS", "TAIL_STEPS", "build_baseline"]

#: Default number of numeric quantile bins and of named categories (``build_baseline``).
DEFAULT_N_BINS = 100
DEFAULT_TOP_K = 500

#: Quantile levels added in each tail (mirrored at ``1 - level``) where finer than ``1 / n_bins``.
TAIL_LEVELS = (0.001, 0.002, 0.005)
#: Edges beyond the training range, in robust scales ``s`` below the minimum and above the maximum.
TAIL_STEPS = (0.5, 1.0, 2.0, 4.0, 8.0)


def _is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
    )


def _robust_scale(finite: NDArray[np.float64]) -> float:
    """IQR / 1.349 (the standard deviation of a normal), else the std, else the range, else 1."""
    q1, q3 = np.quantile(finite, [0.25, 0.75])
    for candidate in ((q3 - q1) / 1.349, float(np.std(finite)), float(finite.max() - finite.min())):
        if math.isfinite(candidate) and candidate > 0:
            return float(candidate)
    return 1.0


def _numeric_bins(name: str, finite: NDArray[np.float64], n_bins: int) -> FeatureBins:
    """Quantile edges, finer tail quantiles and the exact tails (see the module docstring)."""
    levels = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    tails = [level for level in TAIL_LEVELS if level < 1.0 / n_bins]
    levels = np.concatenate([levels, tails, [1.0 - level for level in tails]])
    low, high = float(finite.min()), float(finite.max())
    scale = _robust_scale(finite)
    steps = np.asarray(TAIL_STEPS, dtype="float64") * scale
    candidates = np.concatenate(
        [np.quantile(finite, levels), [low, np.nextafter(high, np.inf)], low - steps, high + steps]
    )
    edges = np.unique(candidates[np.isfinite(candidates)])
    std = float(np.std(finite))
    return FeatureBins(
        name=name,
        kind="numeric",
        edges=[float(e) for e in edges],
        low=low,
        high=high,
        std=std if math.isfinite(std) else None,
    )


def _fit_bins(name: str, series: pd.Series, *, n_bins: int, top_k: int) -> FeatureBins:
    if _is_numeric(series):
        x = _to_float(series, name)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            return FeatureBins(name=name, kind="numeric", edges=[])
        return _numeric_bins(name, finite, n_bins)
    text = _as_category_text(series[series.notna()])
    freq = text.value_counts()
    # Sort by label first, then stably by count, so ties are alphabetical.
    freq = freq.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    return FeatureBins(name=name, kind="categorical", categories=[str(c) for c in freq.index[:top_k]])


def _check_int(value: object, field_name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{field_name}={value!r} is not valid; expected an integer >= {minimum}")


def build_baseline(
    df: pd.DataFrame,
    features: list[str] | None = None,
    *,
    prediction: pd.Series | None = None,
    prediction_name: str = "prediction",
    n_bins: int = DEFAULT_N_BINS,
    top_k: int = DEFAULT_TOP_K,
    importance: dict[str, float] | None = None,
) -> Baseline:
    """Fix the bins of ``features`` (default: every column) from training data.

    Numeric means a pandas numeric dtype other than bool (a bool is a category with
    two values); everything else is categorical. ``n_bins`` is the number of
    quantile bins for numeric features before duplicate edges are merged (tail
    and out-of-range edges come on top, see the module docstring); ``top_k`` the
    number of named categories (the rest of training, if any, is "other"). ``prediction``, if given, is binned
    the same way under ``prediction_name`` so target drift uses the same maths.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    _check_int(n_bins, "n_bins", 2)
    _check_int(top_k, "top_k", 1)
    if features is None:
        features = [str(c) for c in df.columns]
    elif isinstance(features, str):
        raise ValueError(f"features={features!r} must be a list of column names, not a string")
    unknown = [f for f in features if f not in df.columns]
    if unknown:
        raise ValueError(
            f"unknown feature(s) {_preview([str(u) for u in unknown])}; "
            f"df has columns {_preview([str(c) for c in df.columns])}"
        )
    duplicated = sorted({f for f in features if features.count(f) > 1})
    if duplicated:
        raise ValueError(f"feature(s) listed more than once: {_preview(duplicated)}")
    if prediction is not None and prediction_name in features:
        raise ValueError(f"prediction_name={prediction_name!r} clashes with a feature of the same name")
    importance = dict(importance or {})
    stray = [k for k in importance if k not in features]
    if stray:
        raise ValueError(f"importance given for unknown feature(s) {_preview(stray)}")
    bad = {k: v for k, v in importance.items() if not isinstance(v, int | float) or not math.isfinite(v)}
    if bad:
        raise ValueError(f"importance values must be finite numbers, got {bad!r}")

    bins = {name: _fit_bins(name, df[name], n_bins=n_bins, top_k=top_k) for name in features}
    counts = {name: [int(c) for c in b.count(df[name])] for name, b in bins.items()}
    prediction_bins: FeatureBins | None = None
    if prediction is not None:
        pred = prediction if isinstance(prediction, pd.Series) else pd.Series(prediction)
        prediction_bins = _fit_bins(prediction_name, pred, n_bins=n_bins, top_k=top_k)
        counts[prediction_name] = [int(c) for c in prediction_bins.count(pred)]
    return Baseline(
        features=bins,
        baseline_counts=counts,
        prediction=prediction_bins,
        importance={k: float(v) for k, v in importance.items()},
    )
