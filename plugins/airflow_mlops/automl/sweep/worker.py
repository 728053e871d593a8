"""One worker of a sweep: ask the shared study for candidates and score them until the budget is spent.

Run once per worker (an Airflow mapped task, a process, a machine) after
:func:`~airflow_mlops.automl.prepare_sweep`. Each candidate gets its own
MLflow run under the sweep's parent run; its outcome (complete, pruned or
failed) goes back to the study so every other worker sees it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import optuna
import pandas as pd
from mlflow.entities import Metric, Param, RunStatus
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from optuna.trial import FrozenTrial, TrialState

from airflow_mlops.automl.encoders import searches_encoding, suggest_encoding
from airflow_mlops.automl.families import ModelFamily, ScopedTrial, get_family
from airflow_mlops.automl.leaderboard import FAMILY_PARAM
from airflow_mlops.automl.pipeline import parallelism
from airflow_mlops.automl.storage import WORKER_INDEX, recover_interrupted_trials
from airflow_mlops.automl.sweep.budget import (
    MAX_OUT_OF_BUDGET,
    Clock,
    OutOfBudget,
    counted_trials,
    is_surplus,
    worker_deadline,
)
from airflow_mlops.automl.sweep.config import SweepConfig, SweepHandle
from airflow_mlops.automl.sweep.data import SweepData, prepare_data
from airflow_mlops.automl.sweep.ensemble import PREDICTIONS_ARTIFACT, PREDICTIONS_ATTR, save_predictions
from airflow_mlops.automl.sweep.evaluate import Hopeless, Predictions, evaluate
from airflow_mlops.automl.sweep.results import WorkerReport
from airflow_mlops.automl.sweep.study import load_study, quiet_optuna
from airflow_mlops.automl.sweep.tracking import mlflow_client
from airflow_mlops.registry.models import quiet_mlflow_logs

__all__ = ["ProgressCallback", "run_worker"]

ProgressCallback = Callable[[str], None]


def _param_value(value: Any) -> str:
    return "None" if value is None else str(value)


def run_worker(
    df: pd.DataFrame,
    config: SweepConfig,
    handle: SweepHandle,
    *,
    worker_index: int = 0,
    n_workers: int = 1,
    progress: ProgressCallback | None = None,
) -> WorkerReport:
    """Run candidates of the prepared study until it has ``n_trials`` or the deadline comes.

    Safe to run in several processes at once: each asks the shared study for
    the next candidate (queued warm starts first, then its own seeded TPE
    sampler), so no candidate runs twice. A candidate that raises is recorded
    as a failed trial and MLflow run; the worker goes on.
    """
    quiet_optuna()
    quiet_mlflow_logs()
    began = time.time()
    data = prepare_data(df, config)
    study = load_study(config, data, handle.study_name, worker_index)
    client = mlflow_client(config)
    # A retry of this worker (its host died mid-trial): fail and requeue what the dead attempt ran.
    recovered = recover_interrupted_trials(study, worker_index=worker_index)
    if recovered and progress is not None:
        progress(f"worker {worker_index}: trials {recovered} were interrupted by a lost worker; queued again")
    deadline = worker_deadline(config, handle)
    clock = Clock(deadline)
    n_jobs = config.n_jobs or max(1, (os.cpu_count() or 1) // max(1, n_workers))
    counts = {"completed": 0, "pruned": 0, "failed": 0}
    stopped_by = "n_trials"
    out_of_budget = 0  # candidates in a row too slow for the time left: a cheaper one may still fit
    while True:
        if counted_trials(study) >= handle.n_trials:
            break
        if time.time() >= deadline:
            stopped_by = "timeout"
            break
        trial = study.ask()
        if is_surplus(study, trial.number, handle.n_trials):
            # Another worker asked at the same moment and the study is full: give this one back.
            study.tell(trial, state=TrialState.FAIL)
            break
        trial.set_user_attr(WORKER_INDEX, worker_index)
        family = get_family(str(trial.suggest_categorical(FAMILY_PARAM, [f.name for f in data.families])))
        params = {
            **family.suggest(ScopedTrial(trial, family.name), data.task),
            **_preprocessing(trial, family, data),
        }
        run_id = client.create_run(
            handle.experiment_id,
            run_name=f"trial-{trial.number:03d}-{family.name}",
            tags={
                MLFLOW_PARENT_RUN_ID: handle.parent_run_id,
                "airflow_mlops.kind": "automl_trial",
                "optuna.study_name": handle.study_name,
                "optuna.trial_number": str(trial.number),
                "family": family.name,
                "worker_index": str(worker_index),
            },
        ).info.run_id
        for name, value in {"run_id": run_id, "family": family.name, "params": params}.items():
            trial.set_user_attr(name, value)
        client.log_batch(
            run_id,
            params=[Param(FAMILY_PARAM, family.name), Param("metric", data.metric)]
            + [Param(name, _param_value(value)) for name, value in params.items()],
        )

        def log_metrics(metrics: list[Metric], run_id: str = run_id) -> None:
            client.log_batch(run_id, metrics=metrics)

        def keep(predictions: Predictions, run_id: str = run_id, trial: optuna.Trial = trial) -> None:
            try:
                save_predictions(client, run_id, predictions)
            except Exception as exc:  # the candidate stands; only the ensemble goes without it
                client.set_tag(run_id, "predictions_error", f"{type(exc).__name__}: {exc}"[:5000])
                return
            trial.set_user_attr(PREDICTIONS_ATTR, PREDICTIONS_ARTIFACT)

        state, value = TrialState.COMPLETE, math.nan
        try:
            with parallelism(n_jobs):
                value = evaluate(
                    trial,
                    family,
                    params,
                    data,
                    config,
                    clock,
                    log_metrics,
                    n_jobs,
                    keep if config.ensemble else None,
                )
        except (optuna.TrialPruned, Hopeless):
            state = TrialState.PRUNED
        except OutOfBudget as exc:
            state = TrialState.PRUNED
            out_of_budget += 1
            trial.set_user_attr("pruned_by", f"budget: {exc}")
        except Exception as exc:
            state = TrialState.FAIL
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            client.set_tag(run_id, "error", f"{type(exc).__name__}: {exc}"[:5000])
        client.set_tag(run_id, "optuna.state", state.name)
        client.set_terminated(
            run_id,
            status=RunStatus.to_string(RunStatus.FAILED if state == TrialState.FAIL else RunStatus.FINISHED),
        )
        frozen = study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        counts[{"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed"}[state.name]] += 1
        if progress is not None:
            progress(_progress_line(study, frozen, handle, data.metric))
        if state != TrialState.PRUNED or "budget" not in str(frozen.user_attrs.get("pruned_by")):
            out_of_budget = 0
        if out_of_budget >= MAX_OUT_OF_BUDGET:
            stopped_by = "timeout"
            break
    return WorkerReport(worker_index, stopped_by=stopped_by, elapsed_s=time.time() - began, **counts)


def _preprocessing(trial: optuna.Trial, family: ModelFamily, data: SweepData) -> dict[str, Any]:
    """The preprocessing choices the search makes for this candidate (none when there is no choice)."""
    return suggest_encoding(trial) if searches_encoding(family, data.feature_types) else {}


def _progress_line(study: optuna.Study, trial: FrozenTrial, handle: SweepHandle, metric: str) -> str:
    done = counted_trials(study) - len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    family = trial.user_attrs.get("family")
    pct = trial.user_attrs.get("sample_pct")
    if trial.state == TrialState.COMPLETE:
        outcome = f"{metric}={trial.value:.6g}"
    elif trial.state == TrialState.PRUNED:
        outcome = f"pruned ({trial.user_attrs.get('pruned_by', '')}; scored up to {pct or 0}%)"
    else:
        outcome = f"failed: {trial.user_attrs.get('error', '')}"
    try:
        best = study.best_trial
        best_text = f"best {best.user_attrs.get('family')} {metric}={best.value:.6g} (trial {best.number})"
    except ValueError:
        best_text = "no complete trial yet"
    elapsed = time.time() - handle.started
    budget = handle.deadline - handle.started
    return (
        f"trial {done}/{handle.n_trials} #{trial.number} {family}: {outcome}; {best_text}; "
        f"{elapsed:.0f}/{budget:.0f}s"
    )
