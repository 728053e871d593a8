"""The sweep's ensemble: built from kept out-of-fold predictions, on the leaderboard with its costs, in budget."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.datasets import make_classification

from airflow_mlops.automl import SweepConfig, fit_pipeline, get_leaderboard, load_leaderboard, run_sweep
from airflow_mlops.automl.sweep.data import prepare_data
from airflow_mlops.automl.sweep.ensemble import load_predictions, prediction_score

EXPERIMENT = "automl-ensemble-test"


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(tracking_uri=uri).create_experiment(EXPERIMENT, artifact_location=(tmp_path / "a").as_uri())
    yield uri


def _frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    X, y = make_classification(n_samples=n, n_features=8, n_informative=5, flip_y=0.05, random_state=seed)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    df["label"] = np.array(["no", "yes"])[y]
    return df


def _config(tracking_uri: str, **overrides: Any) -> SweepConfig:
    settings: dict[str, Any] = {
        "target": "label",
        "n_trials": 6,
        "families": ["linear", "knn", "random_forest"],
        "pruner": "none",
        "seed": 0,
        "n_jobs": 1,
        "experiment_name": EXPERIMENT,
        "tracking_uri": tracking_uri,
    }
    settings.update(overrides)
    return SweepConfig(**settings)


def test_the_ensemble_is_a_leaderboard_entry_with_its_costs(tracking_uri: str, tmp_path: Path) -> None:
    df = _frame()
    journal = str(tmp_path / "study.journal")
    result = run_sweep(df, _config(tracking_uri, storage=journal))
    board = result.leaderboard
    assert (board["family"] == "ensemble").sum() == 1, board[["family", "score"]]
    row = board[board["family"] == "ensemble"].iloc[0]
    singles = board[board["family"] != "ensemble"]
    assert len(singles) == 6 and board["rank"].tolist() == list(range(1, 8))
    assert board["score"].is_monotonic_decreasing, "ranked with the single candidates by the same metric"
    assert row["trial_number"] == 6, "numbered after every trial"
    assert 0.5 < row["score"] <= 1 and 0.5 < row["holdout_score"] <= 1

    members = row["params"]["members"]
    assert len(members) >= 2 and sum(row["params"]["weights"]) == pytest.approx(1.0)
    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(row["run_id"])
    numbers = [int(n) for n in run.data.tags["member_trials"].split(",")]
    member_rows = singles.set_index("trial_number").loc[numbers]
    for member, (family, params) in zip(
        members, zip(member_rows["family"], member_rows["params"], strict=True), strict=True
    ):
        assert member == {"family": family, "params": params}, "members are leaderboard candidates"
    # Costs: fitting it means fitting every member; predicting runs every member.
    assert row["fit_time_s"] >= member_rows["fit_time_s"].sum()
    assert row["predict_rows_per_s"] < member_rows["predict_rows_per_s"].min()
    assert row["model_size_bytes"] == pytest.approx(member_rows["model_size_bytes"].sum())

    # Its MLflow run holds what a refit needs, as literals; the stored leaderboard has the row too.
    assert run.data.tags["airflow_mlops.kind"] == "automl_ensemble"
    assert ast.literal_eval(run.data.params["members"]) == members
    assert run.data.metrics["AUC_cv"] == pytest.approx(row["score"])
    assert run.data.metrics["holdout_AUC"] == pytest.approx(row["holdout_score"])
    stored = load_leaderboard(result.parent_run_id, tracking_uri)
    assert stored["family"].tolist() == board["family"].tolist()
    live = get_leaderboard(result.study_name, journal)
    assert live["run_id"].tolist() == board["run_id"].tolist(), "the study keeps the ensemble's row"

    # Refitting the row's params gives a model that predicts over the raw frame.
    model = fit_pipeline(df, "label", "ensemble", row["params"], "binary", 0)
    assert model.predict_proba(df.drop(columns="label").head(5)).shape == (5, 2)


def test_never_worse_than_its_best_member_on_the_out_of_fold_rows_it_was_selected_on(
    tracking_uri: str,
) -> None:
    df = _frame(seed=1)
    config = _config(tracking_uri, seed=1)
    result = run_sweep(df, config)
    board = result.leaderboard
    ensemble = board[board["family"] == "ensemble"]
    assert len(ensemble) == 1
    data = prepare_data(df, config)
    score = prediction_score(data)
    client = MlflowClient(tracking_uri=tracking_uri)
    singles = board[board["family"] != "ensemble"]
    # Every complete candidate kept its predictions; recompute the blend from them.
    kept = {
        n: load_predictions(client, r)
        for n, r in zip(singles["trial_number"], singles["run_id"], strict=True)
    }
    assert all(k["oof"].shape == (len(data.y), 2) for k in kept.values())
    assert all(k["holdout"].shape == (3, len(data.y_holdout), 2) for k in kept.values())  # type: ignore[arg-type]
    members = ensemble.iloc[0]["params"]["members"]
    weights = ensemble.iloc[0]["params"]["weights"]
    run = client.get_run(ensemble.iloc[0]["run_id"])
    numbers = [int(n) for n in run.data.tags["member_trials"].split(",")]
    assert len(numbers) == len(members) == len(weights)
    blend = sum(w * kept[n]["oof"] for w, n in zip(weights, numbers, strict=True))
    ensemble_oof = score(blend, None, data.y)
    assert run.data.metrics["AUC_selection"] == pytest.approx(ensemble_oof, rel=1e-6)
    best_member = max(score(kept[n]["oof"], None, data.y) for n in kept)
    assert ensemble_oof >= best_member


def test_off_when_asked(tracking_uri: str) -> None:
    result = run_sweep(_frame(n=300), _config(tracking_uri, ensemble=False, n_trials=3))
    assert "ensemble" not in set(result.leaderboard["family"])


def test_the_budget_covers_the_ensemble_and_leaves_the_refit_share(tracking_uri: str) -> None:
    budget, share = 12.0, 0.2
    started = time.perf_counter()
    result = run_sweep(
        _frame(n=1500),
        _config(tracking_uri, n_trials=1000, timeout_s=budget, refit_share=share, families=["linear", "knn"]),
    )
    elapsed = time.perf_counter() - started
    assert elapsed <= budget * (1 - share) * 1.05, f"sweep and ensemble took {elapsed:.2f}s"
    board = result.leaderboard
    assert "ensemble" in set(board["family"]), "the reserve leaves time to build one"
    run = MlflowClient(tracking_uri=tracking_uri).get_run(
        board[board["family"] == "ensemble"].iloc[0]["run_id"]
    )
    # Its members' estimated refit fits what was left of the budget when it was built.
    estimate, allowance = run.data.metrics["refit_s_estimate"], run.data.metrics["refit_allowance_s"]
    assert 0 < estimate <= allowance
    assert allowance >= budget * share


@pytest.mark.parametrize(("task", "metric"), [("regression", "RMSE"), ("multiclass", "LogLoss")])
def test_regression_and_multiclass_sweeps_blend_too(tracking_uri: str, task: str, metric: str) -> None:
    if task == "regression":
        # Part linear, part not: no single family has it all, so a blend beats each of them.
        rng = np.random.default_rng(0)
        X = rng.normal(size=(400, 4))
        y = 3 * X[:, 0] + 4 * np.sin(2 * X[:, 1]) + X[:, 2] ** 2 + rng.normal(scale=0.5, size=400)
        df = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)]).assign(label=y)
    else:
        X, y = make_classification(
            n_samples=450, n_features=8, n_informative=5, n_classes=3, flip_y=0.05, random_state=0
        )
        df = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)]).assign(label=np.array(["a", "b", "c"])[y])
    result = run_sweep(df, _config(tracking_uri, metric=metric))
    board = result.leaderboard
    assert (board["family"] == "ensemble").sum() == 1, board[["family", "score"]]
    assert board["score"].is_monotonic_increasing, f"{metric}: lower is better, best first"
    row = board[board["family"] == "ensemble"].iloc[0]
    assert row["score"] > 0 and 0 < row["holdout_score"] < np.inf
    model = fit_pipeline(df, "label", "ensemble", row["params"], result.task, 0)
    X_probe = df.drop(columns="label").head(4)
    expected_shape = (4,) if task == "regression" else (4, 3)
    assert (model.predict(X_probe) if task == "regression" else model.predict_proba(X_probe)).shape == (
        expected_shape
    )
