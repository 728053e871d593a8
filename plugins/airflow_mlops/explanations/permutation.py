"""Model-agnostic Shapley values over the user's columns: antithetic permutation sampling.

For models no exact explainer covers (k-nearest neighbours, weighted
ensembles of whole pipelines) this is the estimator of ``shap``'s
``PermutationExplainer``: for each row, one random order of the columns and
its reverse; walking an order, each column in turn takes the row's value
instead of the background's, and the change in the mean output over the
background rows is that column's contribution. The steps of a walk
telescope, so contributions plus the base value (the mean output over the
background) equal the row's output exactly, whatever the sampling error in
how that total is split between columns.

Why not ``shap.PermutationExplainer`` itself: its maskers work on one
numeric matrix, and these models take the raw frame (text categories, dates
as text), so masking happens here, per original column, which is also what
summing transformed contributions back to columns would approximate, at the
cost of d columns instead of every one-hot level. All rows' masked copies go
to the model in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["permutation_shapley"]

Output = Callable[[pd.DataFrame], npt.NDArray[np.float64]]


def _masked_column(
    row_values: npt.NDArray[np.generic], background: npt.NDArray[np.generic], take_row: npt.NDArray[np.bool_]
) -> npt.NDArray[np.generic]:
    """(n, stages, m) values: the row's where ``take_row[n, stages]``, else each background row's."""
    n, stages = take_row.shape
    m = len(background)
    dtype: np.dtype[Any]
    if row_values.dtype == background.dtype:
        dtype = row_values.dtype  # datetime64 stays datetime64 (as objects, nanoseconds would be ints)
    elif row_values.dtype.kind in "biuf" and background.dtype.kind in "biuf":
        dtype = np.result_type(row_values.dtype, background.dtype)
    else:
        dtype = np.dtype(object)
    out = np.empty((n, stages, m), dtype=dtype)
    out[...] = background.astype(dtype)[None, None, :]
    rows, steps = np.nonzero(take_row)
    out[rows, steps, :] = row_values.astype(dtype)[rows, None]
    return out


def permutation_shapley(
    output: Output,
    rows: pd.DataFrame,
    background: pd.DataFrame,
    class_index: npt.NDArray[np.intp] | None = None,
    *,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Contributions ``(n, d)`` per column of ``rows`` and the base value ``(n,)``.

    ``output`` maps a frame of masked rows to one number each (a regression's
    prediction) or one per class (probabilities), in order; it is called
    once. ``class_index`` says which class's column each row explains.
    Per row: ``values.sum(1) + base == output(row)[class]``.
    """
    columns = list(rows.columns)
    d, n, m = len(columns), len(rows), len(background)
    if m == 0:
        raise ValueError("the background sample is empty; explanations need at least one training row")
    if n == 0 or d == 0:
        return np.zeros((n, d)), np.zeros(n)
    rng = np.random.default_rng(seed)
    orders = np.argsort(rng.random((n, d)), axis=1)
    # Two walks per row, the order and its reverse: stage s of a walk has its first s columns from the row.
    walks = np.concatenate([orders, orders[:, ::-1]], axis=0)  # (2n, d)
    stages = d + 1
    position = np.empty_like(walks)
    position[np.arange(2 * n)[:, None], walks] = np.arange(d)[None, :]
    # take[w, s, j]: in walk w at stage s, column j holds the row's value.
    take = position[:, None, :] < np.arange(stages)[None, :, None]  # (2n, stages, d)
    take = np.concatenate([take[:n], take[n:]], axis=1)  # (n, 2*stages, d): both walks of a row together
    data = {}
    for j, name in enumerate(columns):
        masked = _masked_column(rows[name].to_numpy(), background[name].to_numpy(), take[:, :, j])
        data[name] = masked.reshape(-1)
    frame = pd.DataFrame(data, columns=columns)
    for name in columns:
        if rows[name].dtype != object and frame[name].dtype == object:
            frame[name] = frame[name].astype(rows[name].dtype, copy=False)
    answered = np.asarray(output(frame), dtype=np.float64)
    if answered.ndim == 2:
        if class_index is None:
            raise ValueError("the model answers one column per class: say which class each row explains")
        answered = answered.reshape(n, 2 * stages * m, -1)[np.arange(n), :, class_index]
    scores = answered.reshape(n, 2 * stages, m).mean(axis=2)
    values = np.zeros((n, d))
    for half in range(2):
        walk = walks[half * n : (half + 1) * n]
        curve = scores[:, half * stages : (half + 1) * stages]
        steps = np.diff(curve, axis=1)  # (n, d): the step adding walk[:, s]
        np.add.at(values, (np.repeat(np.arange(n), d), walk.reshape(-1)), steps.reshape(-1) / 2.0)
    base = scores[:, 0]
    return values, base
