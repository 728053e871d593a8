"""A sweep's leaderboard model becomes a registered model version (DataRobot's "learning model").

A leaderboard entry is a trial's MLflow run. Everything needed to rebuild it is
in MLflow: the trial run holds the family and hyperparameters, its parent (the
sweep) the target, task, seed, the snapshot it trained on (a dataset input)
and the columns dropped before the sweep. The model is refit on the whole
training part of that snapshot, as the sweep's winner is, and registered.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from airflow_mlops.config import Settings


def _literal(text: str) -> Any:
    """MLflow keeps params as text: ``"0.1"`` → 0.1, ``"None"`` → None, ``"l2"`` stays ``"l2"``."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def register_learning_model(
    run_id: str, *, registered_model_name: str, settings: Settings
) -> tuple[str, Any]:
    """Refit and register the trial ``run_id``; returns ``("<name>/<version>", training frame)``."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    from airflow_mlops.automl import fit_pipeline, validate_task
    from airflow_mlops.automl.importance import permutation_feature_importance
    from airflow_mlops.datasets import load_snapshot, log_snapshot_input
    from airflow_mlops.operators.automl import EXCLUDED_COLUMNS_TAG
    from airflow_mlops.registry import register_model

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise LookupError(f"model_id {run_id!r} is not an MLflow run: {exc}") from exc
    tags = run.data.tags
    if tags.get("airflow_mlops.kind") != "automl_trial":
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
    exclude = json.loads(parent.data.tags.get(EXCLUDED_COLUMNS_TAG, "[]"))
    train = snapshot.train_frame()
    train = train.drop(columns=[c for c in exclude if c in train.columns])
    params = {k: _literal(v) for k, v in run.data.params.items() if k not in ("family", "metric")}
    family = tags["family"]
    target, metric = parent.data.params["target"], parent.data.params["metric"]
    task = validate_task(parent.data.params["task"])
    seed = int(parent.data.params.get("seed", "0"))
    prefix = f"{family}__"
    params = {k.removeprefix(prefix): v for k, v in params.items()}
    pipeline = fit_pipeline(train, target, family, params, task, seed)
    holdout = snapshot.holdout_frame().drop(
        columns=[c for c in exclude if c in train.columns], errors="ignore"
    )
    scored = holdout if len(holdout) else train
    features = [c for c in train.columns if c != target]
    importance = permutation_feature_importance(
        pipeline,
        scored[features],
        scored[target],
        metric=metric,
        task=task,
        seed=seed,  # type: ignore[arg-type]
    )
    registered = register_model(
        pipeline,
        name=registered_model_name,
        train_df=train,
        target=target,
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_registry_uri,
        experiment_name=client.get_experiment(parent.info.experiment_id).name,
        tags={
            "family": family,
            "dataset": snapshot.dataset,
            "dataset_version": snapshot.version,
            "sweep_parent_run_id": parent.info.run_id,
            "learning_model_run_id": run_id,
            "metric": metric,
        },
        feature_importance=importance,
    )
    log_snapshot_input(snapshot, run_id=str(registered.run_id), tracking_uri=settings.mlflow_tracking_uri)
    return f"{registered.name}/{registered.version}", train
