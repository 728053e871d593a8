"""Scoring one candidate: cross-validated stage by stage, stopped as soon as it is out of the race.

Each stage (:mod:`~airflow_mlops.automl.fidelity`) fits every fold on a
sample of its training rows; the holdout is scored alongside but never
reported to Optuna, so the search cannot optimise on it. A candidate stops
when the next fit would overrun the deadline, when it is already worse than
every other candidate at this stage after some folds, or when the pruner
says so after a stage.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd
from mlflow.entities import Metric
from optuna.study import StudyDirection
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline

from airflow_mlops.automl.families import ModelFamily
from airflow_mlops.automl.fidelity import MIN_TRIALS_PER_STAGE, is_hopeless, stage_values, subsample
from airflow_mlops.automl.pipeline import build_pipeline
from airflow_mlops.automl.sweep.budget import Clock
from airflow_mlops.automl.sweep.config import SweepConfig
from airflow_mlops.automl.sweep.data import SweepData
from airflow_mlops.automl.sweep.tracking import metric_key
from airflow_mlops.automl.task import MetricSpec, TaskType


class Hopeless(Exception):
    """Worse than every other candidate at this stage after some folds."""


#: What a complete candidate leaves for ensembling: its out-of-fold predictions over every
#: cross-validation row, and each fold model's predictions on the holdout.
Predictions = dict[str, npt.NDArray[np.float64]]


def predictions_of(model: Any, X: pd.DataFrame, task: TaskType) -> npt.NDArray[np.float64]:
    """Class probabilities (columns in ``classes_`` order) or predicted values: what ensembles blend."""
    return np.asarray(model.predict(X) if task == "regression" else model.predict_proba(X), dtype=np.float64)


def _score(spec: MetricSpec, task: TaskType, model: Pipeline, X: pd.DataFrame, y: pd.Series) -> float:
    return spec.sign * float(get_scorer(spec.scorer(task))(model, X, y))


def evaluate(
    trial: optuna.Trial,
    family: ModelFamily,
    params: dict[str, Any],
    data: SweepData,
    config: SweepConfig,
    clock: Clock,
    log_metrics: Callable[[list[Metric]], None],
    n_jobs: int,
    keep_predictions: Callable[[Predictions], None] | None = None,
) -> float:
    """Cross-validate one candidate stage by stage; raise ``TrialPruned`` when it should stop.

    A candidate that completes hands ``keep_predictions`` the predictions of
    its last stage's fold models (out-of-fold and on the holdout), so an
    ensemble can be selected later without fitting anything again.
    """
    key = metric_key(data.metric)
    direction = StudyDirection.MAXIMIZE if data.spec.greater_is_better else StudyDirection.MINIMIZE
    stratify = data.task != "regression"
    total_fit = 0.0
    own_rate: float | None = None
    total_fit_last = 0.0
    mean = math.nan
    for index, stage in enumerate(data.stages):
        others = stage_values(trial.study, stage.step, exclude=trial.number)
        fold_scores: list[float] = []
        holdout_scores: list[float] = []
        predict_rows = 0
        predict_time = 0.0
        pipeline: Pipeline | None = None
        last = index == len(data.stages) - 1
        oof: npt.NDArray[np.float64] | None = None
        holdout_preds: list[npt.NDArray[np.float64]] = []
        for k, (train_idx, valid_idx) in enumerate(data.folds):
            rows = subsample(data.y, train_idx, stage.fraction, config.seed + k, stratify)
            clock.check(family.name, len(rows), None if own_rate is None else own_rate * 1.2)
            pipeline = build_pipeline(family, params, data.task, config.seed, data.feature_types, n_jobs)
            began = time.perf_counter()
            pipeline.fit(data.X.iloc[rows], data.y.iloc[rows])
            fitted = time.perf_counter()
            fold_scores.append(
                _score(data.spec, data.task, pipeline, data.X.iloc[valid_idx], data.y.iloc[valid_idx])
            )
            predict_time += time.perf_counter() - fitted
            predict_rows += len(valid_idx)
            if data.X_holdout is not None and data.y_holdout is not None:
                holdout_scores.append(_score(data.spec, data.task, pipeline, data.X_holdout, data.y_holdout))
            if last and keep_predictions is not None:
                valid_pred = predictions_of(pipeline, data.X.iloc[valid_idx], data.task)
                if oof is None:
                    oof = np.full((len(data.y), *valid_pred.shape[1:]), np.nan)
                oof[valid_idx] = valid_pred
                if data.X_holdout is not None:
                    holdout_preds.append(predictions_of(pipeline, data.X_holdout, data.task))
            elapsed = time.perf_counter() - began
            total_fit += fitted - began
            if last:
                total_fit_last += fitted - began
            own_rate = clock.record(family.name, len(rows), elapsed)
            if (
                config.pruner_kind != "none"
                and k < len(data.folds) - 1
                and is_hopeless(fold_scores, others, direction, MIN_TRIALS_PER_STAGE)
            ):
                trial.set_user_attr("pruned_by", f"hopeless after fold {k} at {stage.fraction:.0%}")
                raise Hopeless
        assert pipeline is not None
        mean = float(np.mean(fold_scores))
        if not math.isfinite(mean):
            raise ValueError(f"{data.metric} is {mean} for folds {fold_scores}")
        holdout = float(np.mean(holdout_scores)) if holdout_scores else math.nan
        sample_pct = round(100 * stage.fraction)
        attrs = {
            "sample_pct": sample_pct,
            "cv_score": mean,
            "holdout_score": holdout,
            "fit_time_s": total_fit,
            "predict_rows_per_s": predict_rows / max(predict_time, 1e-9),
            "model_size_bytes": len(pickle.dumps(pipeline)),
        }
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        now = int(time.time() * 1000)
        metrics = [Metric(f"{key}_fold_{k}", v, now, stage.step) for k, v in enumerate(fold_scores)]
        metrics += [
            Metric(f"{key}_cv", mean, now, stage.step),
            Metric("sample_pct", sample_pct, now, stage.step),
        ]
        metrics += [
            Metric(name, float(attrs[name]), now, stage.step)
            for name in ("fit_time_s", "predict_rows_per_s", "model_size_bytes")
        ]
        if math.isfinite(holdout):
            metrics.append(Metric(f"holdout_{key}", holdout, now, stage.step))
        log_metrics(metrics)
        trial.report(mean, stage.step)
        if not last and trial.should_prune():
            trial.set_user_attr("pruned_by", f"{config.pruner_kind} at {stage.fraction:.0%}")
            raise optuna.TrialPruned
        if last:
            # What refitting on every row (CV rows and holdout) would take, scaled from one fold's fit.
            fold_rows = float(np.mean([len(tr) for tr, _ in data.folds]))
            all_rows = len(data.y) + (0 if data.y_holdout is None else len(data.y_holdout))
            trial.set_user_attr("refit_s_estimate", total_fit_last / len(data.folds) * all_rows / fold_rows)
            if keep_predictions is not None and oof is not None:
                kept: Predictions = {"oof": oof}
                if holdout_preds:
                    kept["holdout"] = np.stack(holdout_preds)
                keep_predictions(kept)
    return mean
