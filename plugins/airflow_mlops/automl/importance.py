"""Permutation feature importance of a fitted pipeline, in the sweep's metric.

Computed on raw input columns (not on one-hot or encoded ones), because that
is what a person reads and what monitoring compares: drift of a column that
the model leans on matters more than drift of one it ignores. Permutation
works for every family alike, unlike tree-specific importances.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from airflow_mlops.automl.task import TaskType, get_metric

#: Rows scored per repeat: enough for a stable ranking, cheap even for slow predictors.
MAX_ROWS = 2000
N_REPEATS = 3


def permutation_feature_importance(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    metric: str,
    task: TaskType,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
    n_repeats: int = N_REPEATS,
) -> dict[str, float]:
    """Mean drop of the metric (oriented so that larger is worse) when each column is shuffled.

    Sorted from most to least important; a feature whose shuffling does not
    hurt gets 0 or a small negative number (noise). Rows with a missing
    target are left out; at most ``max_rows`` rows are used, sampled with ``seed``.
    """
    spec = get_metric(metric, task)
    labelled = y.notna().to_numpy()
    X, y = X.loc[labelled], y.loc[labelled]
    if len(y) == 0:
        raise ValueError("no rows with a known target to compute permutation importance on")
    if len(y) > max_rows:
        rows = np.random.default_rng(seed).choice(len(y), size=max_rows, replace=False)
        X, y = X.iloc[np.sort(rows)], y.iloc[np.sort(rows)]
    result = permutation_importance(
        pipeline, X, y, scoring=spec.scorer(task), n_repeats=n_repeats, random_state=seed
    )
    importances = {
        str(name): float(value) for name, value in zip(X.columns, result.importances_mean, strict=True)
    }
    return dict(sorted(importances.items(), key=lambda item: item[1], reverse=True))
