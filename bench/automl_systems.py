"""The three systems of ``automl_vs_peers.py``, each as it runs inside its own case process.

A case process is given a directory with the training rows, the test features
(no labels) and ``spec.json`` (target, task, metric, budget, seed); it pins
itself to 2 CPUs, runs one system, and writes that system's test predictions
and a ``CASE {...}`` line for the parent, which scores them. This module is
imported by both environments: the project's (ours) and the peers' virtualenv
(FLAML, AutoGluon), so at the top it imports nothing either lacks.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_JOBS = 2
#: The sweep gets the whole budget: it keeps ``SweepConfig.refit_share`` (10%) free for the
#: refit itself, so a share held back here as well would reserve that time twice.
SEARCH_SHARE = 1.0
FLAML_METRIC = {"AUC": "roc_auc", "LogLoss": "log_loss", "RMSE": "rmse"}
AG_METRIC = {"AUC": "roc_auc", "LogLoss": "log_loss", "RMSE": "root_mean_squared_error"}
#: AutoGluon's best_quality models that need torch (left out when it is not installed).
AG_TORCH_MODELS = ["NN_TORCH", "FASTAI"]
#: The smallest budget at which AutoGluon keeps best_quality's dynamic stacking (see run_autogluon).
AG_DYSTACK_MIN_BUDGET_S = 300


def run_ours(train: pd.DataFrame, X: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    from mlflow import MlflowClient

    from airflow_mlops.automl import SweepConfig, fit_pipeline, run_sweep

    work = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    try:
        # The tracking store exists before a sweep in real use; creating its tables is not AutoML time.
        MlflowClient(tracking_uri=f"sqlite:///{work}/mlflow.db").create_experiment(
            "bench", artifact_location=(work / "artifacts").as_uri()
        )
        started = time.perf_counter()
        config = SweepConfig(
            target=spec["target"],
            metric=spec["metric"],
            # Told the task, as FLAML and AutoGluon are (Sacramento's integer prices were otherwise
            # taken for 600 classes).
            task=spec["task"],
            mode="comprehensive",
            n_trials=100_000,
            timeout_s=spec["budget"] * SEARCH_SHARE,
            seed=spec["seed"],
            n_jobs=N_JOBS,
            experiment_name="bench",
            tracking_uri=f"sqlite:///{work}/mlflow.db",
            artifact_location=(work / "artifacts").as_uri(),
            pruner="successive_halving",
        )
        result = run_sweep(train, config)
        model = fit_pipeline(
            train,
            spec["target"],
            result.best_family,
            result.best_params,
            result.task,
            spec["seed"],
            result.feature_types,
            N_JOBS,
        )
        elapsed = time.perf_counter() - started
        regression = result.task == "regression"
        predicted = model.predict(X) if regression else model.predict_proba(X)
        return {
            "predicted": np.asarray(predicted, dtype=float),
            "classes": None if regression else list(model.classes_),
            "elapsed_s": elapsed,
            "best": result.best_family,
            "trials": int(len(result.leaderboard) + result.n_pruned_trials + result.n_failed_trials),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_flaml(train: pd.DataFrame, X: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    from flaml import AutoML

    automl = AutoML()
    regression = spec["task"] == "regression"
    started = time.perf_counter()
    automl.fit(
        X_train=train.drop(columns=[spec["target"]]),
        y_train=train[spec["target"]],
        task="regression" if regression else "classification",
        metric=FLAML_METRIC[spec["metric"]],
        time_budget=spec["budget"],
        n_jobs=N_JOBS,
        seed=spec["seed"],
        verbose=0,
        mlflow_logging=False,
    )
    elapsed = time.perf_counter() - started
    predicted = automl.predict(X) if regression else automl.predict_proba(X)
    return {
        "predicted": np.asarray(predicted, dtype=float),
        "classes": None if regression else list(automl.classes_),
        "elapsed_s": elapsed,
        "best": automl.best_estimator,
    }


def run_autogluon(train: pd.DataFrame, X: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    import importlib.util

    from autogluon.tabular import TabularPredictor

    excluded = [] if importlib.util.find_spec("torch") else AG_TORCH_MODELS
    # best_quality's dynamic stacking first fits a copy on a quarter of the budget to choose the
    # stack depth; below AG_DYSTACK_MIN_BUDGET_S on 2 cores that copy overruns and the main fit
    # gets no time at all ("Not enough time left ... setting `dynamic_stacking=False`", diamonds
    # at 60 s), so there we follow AutoGluon's own advice and fit the default stack directly.
    dynamic_stacking: str | bool = "auto" if spec["budget"] >= AG_DYSTACK_MIN_BUDGET_S else False
    work = Path(tempfile.mkdtemp(prefix="bench-ag-"))
    try:
        started = time.perf_counter()
        predictor = TabularPredictor(
            label=spec["target"],
            problem_type=spec["task"],
            eval_metric=AG_METRIC[spec["metric"]],
            path=str(work / "model"),
            verbosity=int(os.environ.get("BENCH_AG_VERBOSITY", "0")),
        ).fit(
            train,
            presets="best_quality",
            time_limit=spec["budget"],
            num_cpus=N_JOBS,
            num_gpus=0,
            excluded_model_types=excluded,
            dynamic_stacking=dynamic_stacking,
        )
        elapsed = time.perf_counter() - started
        if spec["task"] == "regression":
            predicted, classes = predictor.predict(X).to_numpy(), None
        else:
            proba = predictor.predict_proba(X, as_multiclass=True)
            classes = list(proba.columns)
            predicted = proba.to_numpy()
        return {
            "predicted": np.asarray(predicted, dtype=float),
            "classes": classes,
            "elapsed_s": elapsed,
            "best": predictor.model_best,
            "excluded_models": excluded,
            "dynamic_stacking": dynamic_stacking,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


RUNNERS = {"ours": run_ours, "flaml": run_flaml, "autogluon": run_autogluon}


def child(system: str, case_dir: Path) -> None:
    """One system on one case: reads the training rows and test features, writes predictions."""
    cpus = sorted(os.sched_getaffinity(0))[:N_JOBS]
    os.sched_setaffinity(0, cpus)  # the same 2 cores for everyone, whatever the machine has
    spec = json.loads((case_dir / "spec.json").read_text())
    train = pd.read_parquet(case_dir / "train.parquet")
    X = pd.read_parquet(case_dir / "test_features.parquet")
    out = RUNNERS[system](train, X, spec)
    np.save(case_dir / f"predicted_{system}.npy", out.pop("predicted"))
    out["classes"] = None if out["classes"] is None else [plain(c) for c in out["classes"]]
    out["cpus"] = cpus
    print("CASE " + json.dumps(out), flush=True)


def plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
