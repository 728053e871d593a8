"""Closing a sweep: blend the best candidates, rank every entry, store the leaderboard, name the winner.

Works from the study alone, so whichever process finishes sees every
worker's trials; the MLflow runs of trials whose worker was killed are
marked KILLED here.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import optuna
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, RunStatus, RunTag
from optuna.trial import TrialState

from airflow_mlops.automl.leaderboard import ENSEMBLE_ATTR, LEADERBOARD_ARTIFACT, build_leaderboard
from airflow_mlops.automl.sweep.config import SweepConfig, SweepHandle
from airflow_mlops.automl.sweep.data import SweepData, prepare_data
from airflow_mlops.automl.sweep.ensemble import build_ensemble
from airflow_mlops.automl.sweep.results import SweepResult, json_value
from airflow_mlops.automl.sweep.study import load_study, quiet_optuna
from airflow_mlops.automl.sweep.tracking import metric_key, mlflow_client

__all__ = ["finish_sweep"]

log = logging.getLogger(__name__)


def _ensemble_rows(
    study: optuna.Study,
    leaderboard: pd.DataFrame,
    data: SweepData,
    config: SweepConfig,
    handle: SweepHandle,
    client: MlflowClient,
) -> list[dict[str, Any]]:
    """The ensemble's row, if one is built; a failure to build one never fails the sweep."""
    study.set_user_attr(ENSEMBLE_ATTR, None)  # a finish run again must not show a stale ensemble
    if not config.ensemble or len(leaderboard) < 2:
        return []
    try:
        row = build_ensemble(study, leaderboard, data, config, handle, client)
    except Exception:
        log.exception(
            "the ensemble of study %s could not be built; the leaderboard has none", handle.study_name
        )
        return []
    return [row] if row is not None else []


def finish_sweep(df: pd.DataFrame, config: SweepConfig, handle: SweepHandle) -> SweepResult:
    """Rank the candidates, store the leaderboard on the parent run and close it.

    Fails (and marks the parent run failed) when no candidate completed. MLflow
    runs of trials whose worker was killed are marked KILLED.
    """
    quiet_optuna()
    data = prepare_data(df, config)
    study = load_study(config, data, handle.study_name, 0)
    client = mlflow_client(config)
    trials = study.get_trials(deepcopy=False)
    try:
        for trial in trials:
            if (
                trial.state == TrialState.FAIL
                and trial.user_attrs.get("interrupted")
                and trial.user_attrs.get("run_id")
            ):
                client.set_terminated(
                    trial.user_attrs["run_id"], status=RunStatus.to_string(RunStatus.KILLED)
                )
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
        leaderboard = build_leaderboard(finished, data.metric, data.spec.greater_is_better)
        extra = _ensemble_rows(study, leaderboard, data, config, handle, client)
        if extra:
            leaderboard = build_leaderboard(
                finished, data.metric, data.spec.greater_is_better, extra_rows=extra
            )
        full = build_leaderboard(
            finished, data.metric, data.spec.greater_is_better, include_partial=True, extra_rows=extra
        )
        failed = [t for t in finished if t.state == TrialState.FAIL and "error" in t.user_attrs]
        pruned = [t for t in finished if t.state == TrialState.PRUNED]
        if leaderboard.empty:
            errors = [t.user_attrs["error"] for t in failed]
            raise RuntimeError(
                f"all {len(finished)} trials of study {handle.study_name!r} failed or were pruned; "
                f"first error: {errors[0] if errors else 'none (the budget ran out first)'}"
            )
        best = leaderboard.iloc[0]
        table = full.assign(params=full["params"].map(lambda p: json.dumps(json_value(p))))
        client.log_table(handle.parent_run_id, table, LEADERBOARD_ARTIFACT)
        key = metric_key(data.metric)
        now = int(time.time() * 1000)
        best_metrics = [
            Metric(f"best_{key}", float(best["score"]), now, 0),
            Metric("n_trials_completed", float(len(leaderboard)), now, 0),
            Metric("n_trials_pruned", float(len(pruned)), now, 0),
            Metric("n_failed_trials", float(len(failed)), now, 0),
            Metric("elapsed_s", time.time() - handle.started, now, 0),
        ]
        if math.isfinite(float(best["holdout_score"])):
            best_metrics.append(Metric(f"best_holdout_{key}", float(best["holdout_score"]), now, 0))
        client.log_batch(
            handle.parent_run_id,
            metrics=best_metrics,
            tags=[
                RunTag("best_family", str(best["family"])),
                RunTag("best_run_id", str(best["run_id"])),
                RunTag("best_params", json.dumps(json_value(best["params"]))),
            ],
        )
    except Exception:
        client.set_terminated(handle.parent_run_id, status=RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(handle.parent_run_id, status=RunStatus.to_string(RunStatus.FINISHED))
    return SweepResult(
        leaderboard=leaderboard,
        best_family=str(best["family"]),
        best_params=dict(best["params"]),
        best_score=float(best["score"]),
        best_holdout_score=float(best["holdout_score"]),
        metric=data.metric,
        greater_is_better=data.spec.greater_is_better,
        task=data.task,
        target=config.target,
        study_name=handle.study_name,
        parent_run_id=handle.parent_run_id,
        experiment_id=handle.experiment_id,
        feature_types=data.feature_types,
        n_failed_trials=len(failed),
        n_pruned_trials=len(pruned),
        elapsed_s=time.time() - handle.started,
    )
