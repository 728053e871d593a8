"""The sweep's ensemble step: blend the best complete candidates into one more leaderboard entry.

Every candidate that completes keeps the predictions of its last stage's
fold models as an artifact of its MLflow run (``oof_predictions.npz``:
out-of-fold predictions over the cross-validation rows, and each fold
model's predictions on the holdout). Workers may be other processes or
machines, and the MLflow store is what they all share; these arrays are too
big for the Optuna study's attributes. Recomputing them would mean fitting
every member once per fold again, the whole cost of its cross-validation;
keeping them costs one prediction pass per fold and a file.

:func:`build_ensemble` then selects weights greedily on those predictions
(:func:`~airflow_mlops.automl.ensemble.greedy_selection`) and scores the
ensemble with the same protocol as a single candidate:

- ``score``: per fold, weights selected on the other folds' out-of-fold rows
  score this fold's rows; the mean over folds. Selecting on the rows being
  scored would flatter the ensemble against single candidates.
- ``holdout_score``: per fold, the blend of that fold's member models on the
  holdout; the mean over folds (singles report the same mean).
- costs: its fit time is its members' plus the selection's, its prediction
  rate that of running every member, its size their sum.

The ensemble finally chosen uses weights selected on all out-of-fold rows.
Members must fit the time left for the refit (their estimated refit times
add up); building stops at :func:`~airflow_mlops.automl.sweep.budget.ensemble_deadline`.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from optuna.trial import FrozenTrial
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.metrics import get_scorer
from sklearn.utils import ClassifierTags, RegressorTags

from airflow_mlops.automl.ensemble import ENSEMBLE_FAMILY, N_STEPS, Selection, greedy_selection
from airflow_mlops.automl.leaderboard import ENSEMBLE_ATTR
from airflow_mlops.automl.sweep.budget import ensemble_deadline
from airflow_mlops.automl.sweep.config import SweepConfig, SweepHandle
from airflow_mlops.automl.sweep.data import SweepData
from airflow_mlops.automl.sweep.results import json_value
from airflow_mlops.automl.sweep.tracking import metric_key

__all__ = [
    "MAX_CANDIDATES",
    "PREDICTIONS_ARTIFACT",
    "PREDICTIONS_ATTR",
    "build_ensemble",
    "load_predictions",
    "prediction_score",
    "save_predictions",
]

log = logging.getLogger(__name__)

PREDICTIONS_ARTIFACT = "oof_predictions.npz"
#: Trial attribute naming the artifact: set only when the candidate completed and its predictions were kept.
PREDICTIONS_ATTR = "predictions_artifact"
#: The best complete candidates the ensemble may draw on.
MAX_CANDIDATES = 10
#: Out-of-fold rows selection is run on, at most (a seeded sample beyond): the ensemble's own
#: scores use every row; 25 steps of weights need no more to be chosen well.
MAX_SELECTION_ROWS = 5000

Array = npt.NDArray[np.float64]


def save_predictions(client: MlflowClient, run_id: str, predictions: dict[str, Any]) -> None:
    """Store a candidate's predictions on its MLflow run (float32: selection needs no more)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / PREDICTIONS_ARTIFACT
        arrays = {name: np.asarray(value, dtype=np.float32) for name, value in predictions.items()}
        np.savez(path, allow_pickle=False, **arrays)
        client.log_artifact(run_id, str(path))


def load_predictions(client: MlflowClient, run_id: str) -> dict[str, Array]:
    """A candidate's kept predictions, read back from its MLflow run."""
    with tempfile.TemporaryDirectory() as folder, _no_progress_bar():
        path = client.download_artifacts(run_id, PREDICTIONS_ARTIFACT, folder)
        with np.load(path) as stored:
            return {name: np.asarray(stored[name], dtype=np.float64) for name in stored.files}


@contextmanager
def _no_progress_bar() -> Iterator[None]:
    """MLflow draws a progress bar per download on stderr: noise in a task log, ten times over."""
    name = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    before = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


class _Fixed(BaseEstimator):
    """Stands in for a model whose predictions are already known, so scikit-learn's scorer scores them.

    Going through the scorer (not a metric function) keeps the ensemble's
    score exactly comparable with the candidates': same response method,
    same positive class, same averaging.
    """

    def __init__(self, values: Array, classes: npt.NDArray[Any] | None) -> None:
        self.values = values
        self.classes = classes

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        if self.classes is None:
            tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
        else:
            tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags()
        return tags

    @property
    def classes_(self) -> npt.NDArray[Any]:
        assert self.classes is not None
        return self.classes

    def predict_proba(self, X: Any) -> Array:
        return self.values

    def predict(self, X: Any) -> npt.NDArray[Any]:
        if self.classes is None:
            return self.values
        return np.asarray(self.classes[np.argmax(self.values, axis=1)])


def prediction_score(data: SweepData) -> Callable[[Array, npt.NDArray[np.intp] | None, pd.Series], float]:
    """``score(predictions, rows, y)``: the scorer's value (greater is better) on ``y.iloc[rows]``.

    Class labels are scored as their positions in the sorted classes (the
    order of ``predict_proba``'s columns), which gives the same values as
    the labels themselves and spares the scorer re-checking strings on every
    call; selection calls it hundreds of times.
    """
    scorer = get_scorer(data.spec.scorer(data.task))
    if data.task == "regression":
        classes = None
        encode: Callable[[pd.Series], pd.Series] = lambda y: y  # noqa: E731
    else:
        labels = np.unique(data.y)
        classes = np.arange(len(labels))
        encode = lambda y: pd.Series(np.searchsorted(labels, y.to_numpy()), index=y.index)  # noqa: E731
    codes: dict[int, pd.Series] = {}

    def score(values: Array, rows: npt.NDArray[np.intp] | None, y: pd.Series) -> float:
        if id(y) not in codes:
            codes[id(y)] = encode(y)
        truth = codes[id(y)] if rows is None else codes[id(y)].iloc[rows]
        with config_context(skip_parameter_validation=True):
            return float(scorer(_Fixed(values, classes), np.empty((len(truth), 0)), truth))

    return score


def _member(trial: FrozenTrial) -> dict[str, Any]:
    return {"family": str(trial.user_attrs["family"]), "params": dict(trial.user_attrs.get("params", {}))}


def build_ensemble(
    study: optuna.Study,
    ranked: pd.DataFrame,
    data: SweepData,
    config: SweepConfig,
    handle: SweepHandle,
    client: MlflowClient,
) -> dict[str, Any] | None:
    """Select, score and record the ensemble; its leaderboard row, or ``None`` (with the reason logged).

    ``ranked`` is the leaderboard of complete candidates, best first. No
    ensemble when fewer than two candidates kept predictions, when the best
    selection is a single candidate, or when the deadline comes first.
    """
    began = time.perf_counter()
    stop_at = ensemble_deadline(config, handle)

    def late() -> bool:
        return time.time() > stop_at

    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    pool = [
        by_number[int(n)]
        for n in ranked["trial_number"]
        if int(n) in by_number and by_number[int(n)].user_attrs.get(PREDICTIONS_ATTR)
    ][:MAX_CANDIDATES]
    if len(pool) < 2:
        log.info("no ensemble: %d complete candidates kept predictions", len(pool))
        return None
    kept: list[dict[str, Array]] = []
    for trial in pool:
        if late():
            log.info("no ensemble: the deadline came while loading predictions")
            return None
        loaded = load_predictions(client, str(trial.user_attrs["run_id"]))
        if data.task != "regression":  # stored as float32: make each row sum to one again
            loaded = {name: value / value.sum(axis=-1, keepdims=True) for name, value in loaded.items()}
        kept.append(loaded)
    score = prediction_score(data)
    rng = np.random.default_rng(config.seed)

    def sample(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
        """At most MAX_SELECTION_ROWS of ``rows``: selection scores hundreds of blends."""
        if len(rows) <= MAX_SELECTION_ROWS:
            return rows
        return np.sort(rng.choice(rows, MAX_SELECTION_ROWS, replace=False))

    everything = np.arange(len(data.y))
    selection_rows = [sample(everything)] + [sample(np.setdiff1d(everything, va)) for _, va in data.folds]
    # As many candidates as the time left lets selection score: every step scores each candidate,
    # once on all rows and once per fold on the other folds' rows.
    # (The fastest of three calls: the first pays one-off costs.)
    per_candidate = _fastest_call(
        lambda: score(kept[0]["oof"][selection_rows[0]], selection_rows[0], data.y)
    ) * (N_STEPS * len(selection_rows))
    affordable = int((stop_at - time.time()) / max(per_candidate, 1e-9))
    if affordable < 2:
        log.info("no ensemble: selection over 2 candidates would take ~%.1fs", 2 * per_candidate)
        return None
    pool, kept = pool[:affordable], kept[:affordable]
    costs = [float(t.user_attrs.get("refit_s_estimate", 0.0)) for t in pool]
    allowance = handle.deadline - time.time()
    oof = [k["oof"] for k in kept]

    def select(rows: npt.NDArray[np.intp]) -> Selection:
        return greedy_selection(
            [p[rows] for p in oof],
            lambda blend: score(blend, rows, data.y),
            costs=costs,
            max_cost=allowance,
            should_stop=late,
        )

    try:
        final = select(selection_rows[0])
    except ValueError as exc:
        log.info("no ensemble: %s", exc)
        return None
    if len(final.members) < 2:
        log.info("no ensemble: the best blend is candidate %d alone", pool[final.members[0]].number)
        return None
    fold_scores: list[float] = []
    for (_train, valid_idx), rows in zip(data.folds, selection_rows[1:], strict=True):
        if late():
            log.info("no ensemble: the deadline came while cross-validating the selection")
            return None
        weights = select(rows).weights
        fold_scores.append(score(_blend(oof, weights, valid_idx), valid_idx, data.y))
    holdout = math.nan
    if data.y_holdout is not None and all("holdout" in k for k in kept):
        n_folds = kept[0]["holdout"].shape[0]
        holdout = float(
            np.mean(
                [
                    score(_blend([k["holdout"][f] for k in kept], final.weights, None), None, data.y_holdout)
                    for f in range(n_folds)
                ]
            )
        )
    sign = data.spec.sign
    members = [pool[i] for i in final.members]
    member_weights = [float(final.weights[i]) for i in final.members]
    attrs = [m.user_attrs for m in members]
    row: dict[str, Any] = {
        "family": ENSEMBLE_FAMILY,
        "score": sign * float(np.mean(fold_scores)),
        "metric": data.metric,
        "sample_pct": 100.0,
        "holdout_score": sign * holdout,
        "fit_time_s": sum(float(a.get("fit_time_s", 0.0)) for a in attrs) + time.perf_counter() - began,
        "predict_rows_per_s": 1.0 / sum(1.0 / float(a.get("predict_rows_per_s", math.inf)) for a in attrs),
        "model_size_bytes": sum(float(a.get("model_size_bytes", 0.0)) for a in attrs),
        "state": "COMPLETE",
        "params": {"members": [_member(m) for m in members], "weights": member_weights},
        # Numbered after every trial, as DataRobot numbers blenders after the models they blend.
        "trial_number": max(by_number) + 1,
        "member_trials": [m.number for m in members],
        # On the rows it was selected on (all out-of-fold rows, or a sample of MAX_SELECTION_ROWS).
        "selection_score": sign * final.score,
        "refit_s_estimate": sum(float(a.get("refit_s_estimate", 0.0)) for a in attrs),
        "refit_allowance_s": allowance,
    }
    row["run_id"] = _record(client, config, handle, data, row)
    study.set_user_attr(ENSEMBLE_ATTR, json_value(row))
    return row


def _fastest_call(call: Callable[[], object], times: int = 3) -> float:
    spent = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        spent.append(time.perf_counter() - began)
    return min(spent)


def _blend(
    predictions: Sequence[Array], weights: npt.NDArray[np.float64], rows: npt.NDArray[np.intp] | None
) -> Array:
    total = sum(w * (p if rows is None else p[rows]) for w, p in zip(weights, predictions, strict=True) if w)
    return np.asarray(total, dtype=np.float64)


def _record(
    client: MlflowClient, config: SweepConfig, handle: SweepHandle, data: SweepData, row: dict[str, Any]
) -> str:
    """The ensemble's MLflow run under the sweep's parent, with what a refit needs as params."""
    run_id = str(
        client.create_run(
            handle.experiment_id,
            run_name=f"ensemble-of-{'-'.join(str(n) for n in row['member_trials'])}",
            tags={
                MLFLOW_PARENT_RUN_ID: handle.parent_run_id,
                "airflow_mlops.kind": "automl_ensemble",
                "optuna.study_name": handle.study_name,
                "optuna.state": "COMPLETE",
                "family": ENSEMBLE_FAMILY,
                "member_trials": ",".join(str(n) for n in row["member_trials"]),
            },
        ).info.run_id
    )
    key = metric_key(data.metric)
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"{key}_cv", row["score"], now, 0),
        Metric(f"{key}_selection", row["selection_score"], now, 0),
        Metric("fit_time_s", row["fit_time_s"], now, 0),
        Metric("predict_rows_per_s", row["predict_rows_per_s"], now, 0),
        Metric("model_size_bytes", row["model_size_bytes"], now, 0),
        Metric("refit_s_estimate", row["refit_s_estimate"], now, 0),
        Metric("refit_allowance_s", row["refit_allowance_s"], now, 0),
    ]
    if math.isfinite(row["holdout_score"]):
        metrics.append(Metric(f"holdout_{key}", row["holdout_score"], now, 0))
    params = row["params"]
    client.log_batch(
        run_id,
        metrics=metrics,
        # Python literals: the learning-model refit reads params back with ``ast.literal_eval``.
        params=[
            Param("family", ENSEMBLE_FAMILY),
            Param("metric", data.metric),
            Param("members", repr(params["members"])),
            Param("weights", repr(params["weights"])),
        ],
    )
    client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FINISHED))
    return run_id
