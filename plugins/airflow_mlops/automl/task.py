"""What kind of problem a target column poses, and how a model for it is judged.

Metric names follow DataRobot ("AUC", "LogLoss", "RMSE", ...) so users see the
names they know; each maps to a scikit-learn scorer, which always treats
greater as better, hence the ``sign`` that turns a scorer's value back into the
metric's own units (a LogLoss of 0.3 is reported as 0.3, not -0.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast, get_args

import numpy as np
import pandas as pd

TaskType = Literal["binary", "multiclass", "regression"]
TASK_TYPES: tuple[TaskType, ...] = get_args(TaskType)

#: An integer-valued target with at most this many distinct values is read as
#: class labels; above it, as a count or amount to regress on.
MAX_INTEGER_CLASSES = 20


@dataclass(frozen=True)
class MetricSpec:
    """A DataRobot metric name tied to the scikit-learn scorer computing it per task."""

    name: str
    scorers: Mapping[TaskType, str]
    greater_is_better: bool

    @property
    def tasks(self) -> tuple[TaskType, ...]:
        return tuple(self.scorers)

    @property
    def sign(self) -> float:
        """Multiplier from the scorer's value (greater is better) to the metric's own units."""
        return 1.0 if self.greater_is_better else -1.0

    def scorer(self, task: TaskType) -> str:
        try:
            return self.scorers[task]
        except KeyError:
            raise ValueError(
                f"metric {self.name!r} does not apply to task {task!r}; "
                f"it applies to {', '.join(map(repr, self.tasks))}"
            ) from None


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("AUC", {"binary": "roc_auc", "multiclass": "roc_auc_ovr_weighted"}, True),
        MetricSpec("LogLoss", {"binary": "neg_log_loss", "multiclass": "neg_log_loss"}, False),
        MetricSpec("Accuracy", {"binary": "accuracy", "multiclass": "accuracy"}, True),
        MetricSpec(
            "Balanced Accuracy", {"binary": "balanced_accuracy", "multiclass": "balanced_accuracy"}, True
        ),
        MetricSpec("MCC", {"binary": "matthews_corrcoef", "multiclass": "matthews_corrcoef"}, True),
        MetricSpec("RMSE", {"regression": "neg_root_mean_squared_error"}, False),
        MetricSpec("MAE", {"regression": "neg_mean_absolute_error"}, False),
        MetricSpec("MAPE", {"regression": "neg_mean_absolute_percentage_error"}, False),
        MetricSpec("RMSLE", {"regression": "neg_root_mean_squared_log_error"}, False),
        MetricSpec("Poisson Deviance", {"regression": "neg_mean_poisson_deviance"}, False),
        MetricSpec("Gamma Deviance", {"regression": "neg_mean_gamma_deviance"}, False),
        MetricSpec("R Squared", {"regression": "r2"}, True),
    )
}

DEFAULT_METRICS: dict[TaskType, str] = {"binary": "AUC", "multiclass": "LogLoss", "regression": "RMSE"}


def validate_task(task: str) -> TaskType:
    """Reject a misspelt task name early, before it silently picks the wrong models."""
    if task not in TASK_TYPES:
        raise ValueError(f"task={task!r} is not valid; expected one of {', '.join(map(repr, TASK_TYPES))}")
    return cast(TaskType, task)


def default_metric(task: TaskType) -> str:
    return DEFAULT_METRICS[validate_task(task)]


def get_metric(name: str, task: TaskType | None = None) -> MetricSpec:
    """Look a metric up by its DataRobot name, checking it fits ``task`` when given."""
    try:
        spec = METRICS[name]
    except KeyError:
        raise ValueError(
            f"metric={name!r} is not known; expected one of {', '.join(map(repr, METRICS))}"
        ) from None
    if task is not None:
        spec.scorer(validate_task(task))
    return spec


def _is_integer_valued(values: pd.Series) -> bool:
    as_float = values.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(as_float)) and np.all(np.mod(as_float, 1.0) == 0.0))


def detect_task(y: pd.Series, override: str | None = None) -> TaskType:
    """Guess the task from the target's values, so a user need not say it.

    Integer-valued floats count as integers because pandas turns an integer
    column with a missing value into floats. ``override`` wins, but is still
    checked against the data: a "binary" target with five classes is a mistake
    better caught here than as a confusing scorer error mid-sweep.
    """
    values = y.dropna()
    if values.empty:
        raise ValueError(f"target {y.name!r} has no non-missing values")
    n_unique = int(values.nunique())
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)

    if override is not None:
        task = validate_task(override)
        if task == "regression" and not numeric:
            raise ValueError(f"task='regression' needs a numeric target; {y.name!r} has dtype {y.dtype}")
        if task != "regression" and n_unique < 2:
            raise ValueError(f"task={task!r} needs at least 2 classes; {y.name!r} has {n_unique}")
        if task == "binary" and n_unique != 2:
            raise ValueError(f"task='binary' needs exactly 2 classes; {y.name!r} has {n_unique}")
        return task

    if n_unique < 2:
        raise ValueError(f"target {y.name!r} has a single value {values.iloc[0]!r}; nothing to learn")
    if not numeric:
        return "binary" if n_unique == 2 else "multiclass"
    if not _is_integer_valued(values):
        return "regression"
    if n_unique == 2:
        return "binary"
    if n_unique <= MAX_INTEGER_CLASSES:
        return "multiclass"
    return "regression"
