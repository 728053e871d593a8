"""A sweep's leaderboard model becomes a registered model version (DataRobot's "learning model").

A leaderboard entry is a trial's MLflow run (or the sweep's ensemble's run, whose
params are its members and weights). Everything needed to rebuild it is
in MLflow: the trial run holds the family and hyperparameters, its parent (the
sweep) the target, task, seed, the snapshot it trained on (a dataset input)
and the columns dropped before the sweep. The model is refit on the whole
training part of that snapshot by :func:`~airflow_mlops.training.refit_and_register`,
the same function that registers a sweep's winner.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from airflow_mlops.config import Settings
from airflow_mlops.datasets import Snapshot, load_snapshot
from airflow_mlops.training.refit import RefitModel, RefitSpec, refit_and_register

#: The sweep's parent run keeps the columns dropped before the sweep, so a leaderboard
#: model can be refit later on exactly the same features (``create_from_learning_model``).
EXCLUDED_COLUMNS_TAG = "airflow_mlops.exclude_columns"


def _literal(text: str) -> Any:
    """MLflow keeps params as text: ``"0.1"`` → 0.1, ``"None"`` → None, ``"l2"`` stays ``"l2"``."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def learning_model_spec(run_id: str, *, settings: Settings) -> tuple[RefitSpec, Snapshot, dict[str, str]]:
    """Read a trial run and its sweep: what to refit, on which snapshot, and the lineage tags."""
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise LookupError(f"model_id {run_id!r} is not an MLflow run: {exc}") from exc
    tags = run.data.tags
    if tags.get("airflow_mlops.kind") not in ("automl_trial", "automl_ensemble"):
        raise ValueError(
            f"run {run_id!r} is not a sweep trial (its kind is {tags.get('airflow_mlops.kind')!r})"
        )
    if tags.get("optuna.state", "COMPLETE") != "COMPLETE":
        raise ValueError(
            f"trial run {run_id!r} did not complete ({tags.get('optuna.state')}); pick a ranked model"
        )
    parent = client.get_run(tags[MLFLOW_PARENT_RUN_ID])
    inputs = [d for d in (parent.inputs.dataset_inputs if parent.inputs else []) if d.dataset.digest]
    if not inputs:
        raise ValueError(
            f"the sweep of trial {run_id!r} records no dataset input; it was not run by AutoMLSweepOperator, "
            "so its training data cannot be found"
        )
    dataset = inputs[-1].dataset
    snapshot = load_snapshot(settings.snapshots_dir, dataset.name, dataset.digest)
    family = tags["family"]
    prefix = f"{family}__"
    params = {
        k.removeprefix(prefix): _literal(v)
        for k, v in run.data.params.items()
        if k not in ("family", "metric")
    }
    spec = RefitSpec(
        family=family,
        params=params,
        task=parent.data.params["task"],
        metric=parent.data.params["metric"],
        target=parent.data.params["target"],
        seed=int(parent.data.params.get("seed", "0")),
        exclude_columns=tuple(json.loads(parent.data.tags.get(EXCLUDED_COLUMNS_TAG, "[]"))),
    )
    lineage = {
        "sweep_parent_run_id": parent.info.run_id,
        "learning_model_run_id": run_id,
        "experiment": client.get_experiment(parent.info.experiment_id).name,
    }
    return spec, snapshot, lineage


def register_learning_model(run_id: str, *, registered_model_name: str, settings: Settings) -> RefitModel:
    """Refit and register the trial ``run_id`` with its baseline (holdout metrics and boundaries included)."""
    spec, snapshot, lineage = learning_model_spec(run_id, settings=settings)
    experiment = lineage.pop("experiment")
    return refit_and_register(
        snapshot,
        spec,
        registered_model_name=registered_model_name,
        experiment_name=experiment,
        tags=lineage,
        settings=settings,
    )
