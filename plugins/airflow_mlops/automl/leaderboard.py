"""The leaderboard: every candidate of a sweep, best first (DataRobot's ``project.get_models()``).

Built from the Optuna study itself, so it is the same whichever worker asks,
and it can be queried while a sweep runs (:func:`get_leaderboard`) or after it
from the MLflow table artifact of the sweep's parent run
(:func:`load_leaderboard`). Candidates scored on all the data come first,
sorted by the metric; candidates pruned at a smaller sample follow (only with
``include_partial``), sorted by sample size and then metric, because a score
on 16% of the rows is not comparable with one on all of them. The sweep's
ensemble (family ``ensemble``, :mod:`~airflow_mlops.automl.sweep.ensemble`)
is ranked with the complete candidates; it is kept as a study attribute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from mlflow import MlflowClient
from optuna.trial import FrozenTrial, TrialState

LEADERBOARD_COLUMNS = (
    "rank",
    "family",
    "score",
    "metric",
    "sample_pct",
    "holdout_score",
    "fit_time_s",
    "predict_rows_per_s",
    "model_size_bytes",
    "state",
    "params",
    "trial_number",
    "run_id",
)
LEADERBOARD_ARTIFACT = "leaderboard.json"
FAMILY_PARAM = "family"
#: Study attribute holding the ensemble's leaderboard row, once the sweep has built one.
ENSEMBLE_ATTR = "ensemble"


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _row(trial: FrozenTrial, metric: str) -> dict[str, Any] | None:
    """One candidate, or ``None`` when it has no finite score at any sample size."""
    if trial.state == TrialState.COMPLETE:
        score = trial.value
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        score = trial.intermediate_values[max(trial.intermediate_values)]
    else:
        return None
    if score is None or not math.isfinite(score):
        return None
    attrs = trial.user_attrs
    return {
        "family": attrs.get("family", trial.params.get(FAMILY_PARAM)),
        "score": float(score),
        "metric": metric,
        "sample_pct": _float(attrs.get("sample_pct")),
        "holdout_score": _float(attrs.get("holdout_score")),
        "fit_time_s": _float(attrs.get("fit_time_s")),
        "predict_rows_per_s": _float(attrs.get("predict_rows_per_s")),
        "model_size_bytes": _float(attrs.get("model_size_bytes")),
        "state": trial.state.name,
        "params": dict(attrs.get("params", {})),
        "trial_number": trial.number,
        "run_id": attrs.get("run_id"),
    }


def build_leaderboard(
    trials: Sequence[FrozenTrial],
    metric: str,
    greater_is_better: bool,
    *,
    include_partial: bool = False,
    extra_rows: Sequence[Mapping[str, Any]] = (),
) -> pd.DataFrame:
    """Rank candidates: completed ones by the metric (ties to the earlier trial), then partial ones.

    ``extra_rows`` are entries that are not trials (the sweep's ensemble),
    ranked with the completed candidates.
    """
    rows = [row for trial in trials if (row := _row(trial, metric)) is not None]
    rows += [
        {column: row.get(column) for column in LEADERBOARD_COLUMNS if column != "rank"} for row in extra_rows
    ]
    if not include_partial:
        rows = [row for row in rows if row["state"] == "COMPLETE"]
    frame = pd.DataFrame(rows, columns=[c for c in LEADERBOARD_COLUMNS if c != "rank"])
    if frame.empty:
        frame.insert(0, "rank", pd.Series(dtype=int))
        return frame
    frame["_complete"] = frame["state"] == "COMPLETE"
    frame = frame.sort_values(
        ["_complete", "sample_pct", "score", "trial_number"],
        ascending=[False, False, not greater_is_better, True],
        kind="mergesort",
        na_position="last",
    ).drop(columns="_complete")
    frame = frame.reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def get_leaderboard(
    study_name: str, storage: str | optuna.storages.BaseStorage, *, include_partial: bool = False
) -> pd.DataFrame:
    """The leaderboard of a stored study, live: works while workers are still adding trials."""
    from airflow_mlops.automl.storage import open_storage

    opened = open_storage(storage) if isinstance(storage, str) else storage
    assert opened is not None
    study = optuna.load_study(study_name=study_name, storage=opened)
    metric = str(study.user_attrs.get("metric", "score"))
    greater = study.direction == optuna.study.StudyDirection.MAXIMIZE
    ensemble = study.user_attrs.get(ENSEMBLE_ATTR)
    return build_leaderboard(
        study.get_trials(deepcopy=False),
        metric,
        greater,
        include_partial=include_partial,
        extra_rows=[ensemble] if ensemble else [],
    )


def load_leaderboard(parent_run_id: str, tracking_uri: str) -> pd.DataFrame:
    """The leaderboard table a finished sweep stored on its MLflow parent run."""
    import json

    client = MlflowClient(tracking_uri=tracking_uri)
    path = client.download_artifacts(parent_run_id, LEADERBOARD_ARTIFACT)
    with open(path, encoding="utf-8") as handle:
        table: Mapping[str, Any] = json.load(handle)
    frame = pd.DataFrame(table["data"], columns=table["columns"])
    if "params" in frame:
        frame["params"] = frame["params"].map(json.loads)
    return frame
