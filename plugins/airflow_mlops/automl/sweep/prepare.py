"""Starting (or resuming) a sweep: the study, its warm starts, the MLflow parent run and the deadline.

Run once per sweep run, before any worker. Resuming a stored study fails the
trials a killed worker left running and queues their parameters again; each
family's known-good defaults are queued first, so even a sweep cut short by
its budget has scored every family once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import uuid4

import pandas as pd
from mlflow.entities import Param, RunStatus, RunTag

from airflow_mlops.automl.encoders import DEFAULT_ENCODING, OPTUNA_ENCODING_PARAM, searches_encoding
from airflow_mlops.automl.families import scoped_param_name
from airflow_mlops.automl.leaderboard import FAMILY_PARAM
from airflow_mlops.automl.storage import recover_interrupted_trials
from airflow_mlops.automl.sweep.config import SweepConfig, SweepHandle
from airflow_mlops.automl.sweep.data import prepare_data
from airflow_mlops.automl.sweep.study import check_resumed_study, load_study, quiet_optuna, study_attrs
from airflow_mlops.automl.sweep.tracking import mlflow_client
from airflow_mlops.registry.models import get_or_create_experiment, quiet_mlflow_logs

__all__ = ["prepare_sweep"]


def prepare_sweep(df: pd.DataFrame, config: SweepConfig) -> SweepHandle:
    """Create or reopen the study and the MLflow parent run; fix the deadline. Run once per sweep run."""
    if not isinstance(config, SweepConfig):
        raise TypeError(f"config must be a SweepConfig, got {type(config).__name__}")
    quiet_optuna()
    quiet_mlflow_logs()
    started = time.time()
    data = prepare_data(df, config)
    # Unique by default: reusing a name on persistent storage means "resume that study".
    study_name = (
        config.study_name or f"automl-{config.target}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid4().hex[:6]}"
    )
    study = load_study(config, data, study_name, 0, fresh=True)
    check_resumed_study(study, study_attrs(config, data))
    recover_interrupted_trials(study)
    for family in data.families:
        warm_start = {
            FAMILY_PARAM: family.name,
            **{
                scoped_param_name(family.name, key): value
                for key, value in family.default_params(data.task).items()
            },
        }
        if searches_encoding(family, data.feature_types):
            warm_start[OPTUNA_ENCODING_PARAM] = DEFAULT_ENCODING
        study.enqueue_trial(warm_start, user_attrs={"warm_start": True}, skip_if_exists=True)

    client = mlflow_client(config)
    experiment_id = get_or_create_experiment(client, config.experiment_name, config.artifact_location)
    parent_id = study.user_attrs.get("parent_run_id")
    if parent_id:
        client.update_run(parent_id, status=RunStatus.to_string(RunStatus.RUNNING))
    else:
        parent = client.create_run(
            experiment_id,
            run_name=study_name,
            tags={"airflow_mlops.kind": "automl_sweep", "optuna.study_name": study_name},
        )
        parent_id = parent.info.run_id
        study.set_user_attr("parent_run_id", parent_id)
        client.log_batch(
            parent_id,
            params=[
                Param("target", config.target),
                Param("task", data.task),
                Param("metric", data.metric),
                Param("families", ",".join(f.name for f in data.families)),
                Param("mode", config.mode),
                Param("n_trials", str(config.trial_budget)),
                Param("timeout_s", str(config.time_budget_s)),
                Param("pruner", config.pruner_kind),
                Param("stages", ",".join(f"{s.fraction:g}" for s in data.stages)),
                Param("cv_folds", str(config.cv_folds)),
                Param("holdout_fraction", str(config.holdout_fraction)),
                Param("seed", str(config.seed)),
                Param("n_rows", str(len(data.y))),
                Param("n_holdout_rows", str(0 if data.y_holdout is None else len(data.y_holdout))),
                Param("n_features", str(len(data.feature_types))),
            ],
            tags=[RunTag("optuna.storage", "memory" if config.storage is None else "persistent")],
        )
    return SweepHandle(
        study_name=study_name,
        storage=config.storage,
        parent_run_id=str(parent_id),
        experiment_id=str(experiment_id),
        task=data.task,
        metric=data.metric,
        deadline=started + config.time_budget_s,
        started=started,
        n_trials=config.trial_budget,
    )
