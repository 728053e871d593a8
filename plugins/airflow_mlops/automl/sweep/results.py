"""What a sweep gives back: each worker's :class:`WorkerReport` and the sweep's :class:`SweepResult`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from airflow_mlops.automl.preprocess import FeatureType
from airflow_mlops.automl.task import TaskType

__all__ = ["SweepResult", "WorkerReport"]


@dataclass(frozen=True)
class WorkerReport:
    """What one worker did: its trials by outcome, and why it stopped."""

    worker_index: int
    completed: int
    pruned: int
    failed: int
    stopped_by: str
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SweepResult:
    """The sweep's outcome: enough to refit the winner and to show the leaderboard."""

    leaderboard: pd.DataFrame
    best_family: str
    best_params: dict[str, Any]
    best_score: float
    best_holdout_score: float
    metric: str
    greater_is_better: bool
    task: TaskType
    target: str
    study_name: str
    parent_run_id: str
    experiment_id: str
    feature_types: dict[str, FeatureType] = field(default_factory=dict)
    n_failed_trials: int = 0
    n_pruned_trials: int = 0
    elapsed_s: float = math.nan

    def leaderboard_records(self) -> list[dict[str, Any]]:
        """The leaderboard as plain JSON-safe dicts (for XCom, an API response, a report)."""
        return [json_value(row) for row in self.leaderboard.to_dict(orient="records")]


def json_value(value: Any) -> Any:
    """``value`` with NumPy scalars made plain and non-finite floats made ``None`` (JSON has neither)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value
