"""The sweep end to end on tiny data: real Optuna studies, real MLflow on SQLite under tmp_path."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.datasets import make_classification, make_regression

from airflow_mlops.automl import (
    LEADERBOARD_COLUMNS,
    SweepConfig,
    TrialLike,
    get_family,
    get_leaderboard,
    load_leaderboard,
    register_family,
    run_sweep,
    unregister_family,
)
from airflow_mlops.automl.task import TaskType

EXPERIMENT = "automl-test"
FAST = ["linear", "hist_gradient_boosting", "random_forest"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real MLflow store per module: creating its tables costs about a second."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture
def tracking_uri(store: str, tmp_path: Path) -> Iterator[str]:
    """The shared store with a fresh experiment whose artifacts live in tmp_path, never in the cwd."""
    client = MlflowClient(tracking_uri=store)
    experiment_id = client.create_experiment(EXPERIMENT, artifact_location=(tmp_path / "artifacts").as_uri())
    yield store
    # Deleted experiments keep their name; rename so the next test can create it again.
    client.rename_experiment(experiment_id, f"{EXPERIMENT}-{experiment_id}")


def _classification(n: int = 200, n_classes: int = 2, seed: int = 0) -> pd.DataFrame:
    X, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, n_classes=n_classes, random_state=seed
    )
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    rng = np.random.default_rng(seed)
    df["region"] = rng.choice(["north", "south", "east", "west"], n)
    df.loc[rng.random(n) < 0.1, "x1"] = np.nan
    df.loc[rng.random(n) < 0.1, "region"] = None
    df["label"] = np.array(["no", "yes", "maybe"])[y]
    return df


def _regression(n: int = 200) -> pd.DataFrame:
    X, y = make_regression(n_samples=n, n_features=6, n_informative=4, noise=10.0, random_state=0)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    df["region"] = np.random.default_rng(0).choice(["a", "b"], n)
    df.loc[::13, "x2"] = np.nan
    df["label"] = y
    return df


def _config(tracking_uri: str, **overrides: Any) -> SweepConfig:
    settings: dict[str, Any] = {
        "target": "label",
        "n_trials": 5,
        "families": FAST,
        "pruner": "none",
        "seed": 0,
        "n_jobs": 1,
        "ensemble": False,  # single candidates here; test_automl_sweep_ensemble.py covers the ensemble
        "experiment_name": EXPERIMENT,
        "tracking_uri": tracking_uri,
    }
    settings.update(overrides)
    return SweepConfig(**settings)


def test_binary_sweep_records_every_trial_under_the_parent(tracking_uri: str) -> None:
    df = _classification()
    messages: list[str] = []
    result = run_sweep(df, _config(tracking_uri), progress=messages.append)

    assert (result.task, result.metric, result.greater_is_better) == ("binary", "AUC", True)
    board = result.leaderboard
    assert list(board.columns) == list(LEADERBOARD_COLUMNS)
    assert board["rank"].tolist() == [1, 2, 3, 4, 5]
    assert board["score"].is_monotonic_decreasing
    assert sorted(board["trial_number"]) == [0, 1, 2, 3, 4]
    assert result.best_family == board.loc[0, "family"]
    assert result.best_params == board.loc[0, "params"]
    assert (board["sample_pct"] == 100).all()
    assert board["holdout_score"].between(0.5, 1).all(), "scored on the holdout the search never sees"
    assert (board["predict_rows_per_s"] > 0).all() and (board["model_size_bytes"] > 0).all()

    # Warm start: trials 0..2 are each family's defaults, in the order asked for.
    by_trial = board.set_index("trial_number")
    for number, family in enumerate(FAST):
        assert by_trial.loc[number, "family"] == family
        assert by_trial.loc[number, "params"] == get_family(family).default_params("binary")

    assert len(messages) == 5
    assert messages[0].startswith("trial 1/5 #0 linear: AUC=")
    assert messages[-1].startswith("trial 5/5 ")
    assert f"AUC={result.best_score:.6g}" in messages[-1], "progress says the best so far"

    client = MlflowClient(tracking_uri=tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["task"] == "binary"
    assert parent.data.tags["best_family"] == result.best_family
    assert parent.data.metrics["best_AUC"] == pytest.approx(result.best_score)
    stored = load_leaderboard(result.parent_run_id, tracking_uri)
    assert stored["trial_number"].tolist() == board["trial_number"].tolist()
    assert stored["params"].tolist() == board["params"].tolist()

    children = client.search_runs(
        [result.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'"
    )
    assert {run.info.run_id for run in children} == set(board["run_id"])
    for run in children:
        assert run.info.status == "FINISHED"
        row = board[board["run_id"] == run.info.run_id].iloc[0]
        metrics = run.data.metrics
        assert run.data.params["family"] == row["family"]
        assert metrics["AUC_cv"] == pytest.approx(row["score"])
        assert np.mean([metrics[f"AUC_fold_{i}"] for i in range(3)]) == pytest.approx(row["score"])
        assert metrics["holdout_AUC"] == pytest.approx(row["holdout_score"])
        assert metrics["sample_pct"] == 100
        assert metrics["fit_time_s"] == pytest.approx(row["fit_time_s"]) and row["fit_time_s"] > 0
        assert metrics["predict_rows_per_s"] > 0 and metrics["model_size_bytes"] > 0


@pytest.mark.parametrize(
    ("make", "task", "metric"),
    [(_regression, "regression", "RMSE"), (lambda: _classification(n_classes=3), "multiclass", "LogLoss")],
)
def test_lower_is_better_metrics_sort_ascending(tracking_uri: str, make: Any, task: str, metric: str) -> None:
    result = run_sweep(make(), _config(tracking_uri, n_trials=4))
    assert (result.task, result.metric, result.greater_is_better) == (task, metric, False)
    scores = result.leaderboard["score"]
    assert scores.is_monotonic_increasing and scores.iloc[0] < scores.iloc[-1]
    assert result.best_score == pytest.approx(scores.min())
    assert (scores > 0).all()  # reported in the metric's own units, not negated


def test_explicit_metric_task_and_families(tracking_uri: str) -> None:
    result = run_sweep(
        _classification(),
        _config(tracking_uri, metric="LogLoss", task="binary", families=["linear"], n_trials=3),
    )
    assert set(result.leaderboard["family"]) == {"linear"}
    assert result.metric == "LogLoss" and not result.greater_is_better
    assert result.leaderboard["score"].is_monotonic_increasing


def test_seeded_sweep_is_reproducible(tracking_uri: str) -> None:
    df = _classification()
    first = run_sweep(df, _config(tracking_uri, n_trials=6))
    second = run_sweep(df, _config(tracking_uri, n_trials=6))
    assert first.study_name != second.study_name
    assert first.best_family == second.best_family
    assert first.best_params == second.best_params
    assert first.leaderboard["params"].tolist() == second.leaderboard["params"].tolist()
    assert np.allclose(first.leaderboard["score"], second.leaderboard["score"])
    assert np.allclose(first.leaderboard["holdout_score"], second.leaderboard["holdout_score"])


def test_leaderboard_records_are_json_safe(tracking_uri: str) -> None:
    result = run_sweep(_classification(), _config(tracking_uri, n_trials=3))
    records = result.leaderboard_records()
    assert json.loads(json.dumps(records, allow_nan=False)) == records
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert type(records[0]["trial_number"]) is int
    assert isinstance(records[0]["params"], dict)


def test_staged_fidelity_prunes_on_samples(tracking_uri: str) -> None:
    """16% → 32% → 64% → 100%: only candidates in the better half of a stage see more rows."""
    config = _config(
        tracking_uri,
        families=["linear", "knn"],
        n_trials=10,
        pruner="successive_halving",
        min_sample_rows=40,
    )
    result = run_sweep(_classification(n=900), config)
    assert result.n_pruned_trials >= 1, "some candidates stop before all the data"
    assert (result.leaderboard["sample_pct"] == 100).all()
    table = load_leaderboard(result.parent_run_id, tracking_uri)
    partial = table[table["state"] == "PRUNED"]
    assert 1 <= len(partial) <= result.n_pruned_trials  # pruned after a fold of the first stage: no score
    assert set(partial["sample_pct"]) <= {16, 32, 64}
    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(str(partial.iloc[0]["run_id"]))
    assert run.data.tags["optuna.state"] == "PRUNED"
    history = client.get_metric_history(run.info.run_id, "sample_pct")
    assert [m.value for m in history] == sorted(m.value for m in history)
    assert max(m.value for m in history) < 100


def test_budget_is_a_hard_wall_clock_limit(tracking_uri: str) -> None:
    df = _classification(n=3000)
    budget = 8.0
    started = time.perf_counter()
    result = run_sweep(
        df,
        _config(
            tracking_uri, families=["random_forest", "linear"], n_trials=1000, timeout_s=budget, pruner="none"
        ),
    )
    elapsed = time.perf_counter() - started
    assert elapsed <= budget * 1.05, f"sweep took {elapsed:.2f}s for a {budget}s budget"
    assert len(result.leaderboard) >= 1


def test_journal_storage_resumes_up_to_n_trials(tracking_uri: str, tmp_path: Path) -> None:
    df = _classification()
    journal = str(tmp_path / "studies" / "journal.log")
    first = run_sweep(df, _config(tracking_uri, n_trials=4, storage=journal, study_name="resume"))
    assert len(first.leaderboard) == 4
    second = run_sweep(df, _config(tracking_uri, n_trials=6, storage=journal, study_name="resume"))
    # Only two new trials, and the warm starts were not repeated.
    assert sorted(second.leaderboard["trial_number"]) == list(range(6))
    assert (second.leaderboard["family"] == "linear").sum() >= 1
    new_runs = set(second.leaderboard["run_id"]) - set(first.leaderboard["run_id"])
    assert len(new_runs) == 2
    assert second.parent_run_id == first.parent_run_id, "a resumed sweep keeps its MLflow parent run"
    live = get_leaderboard("resume", journal)
    assert live["trial_number"].tolist() == second.leaderboard["trial_number"].tolist()
    with pytest.raises(ValueError, match="already exists with different settings"):
        run_sweep(
            df, _config(tracking_uri, n_trials=7, storage=journal, study_name="resume", metric="LogLoss")
        )


class _Broken:
    """A family whose every candidate fails, as a numerically unstable model might."""

    name = "broken"
    tasks: frozenset[TaskType] = frozenset({"binary"})
    needs_scaling = False

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {"k": 1}

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {"k": trial.suggest_int("k", 1, 3)}

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        raise ValueError(f"cannot build with {params}")


@pytest.fixture
def broken_family() -> Iterator[str]:
    register_family(_Broken())
    yield "broken"
    unregister_family("broken")


def test_failed_trials_are_recorded_and_skipped(tracking_uri: str, broken_family: str) -> None:
    result = run_sweep(
        _classification(), _config(tracking_uri, families=["linear", broken_family], n_trials=4)
    )
    assert set(result.leaderboard["family"]) == {"linear"}
    assert result.n_failed_trials >= 1
    assert len(result.leaderboard) + result.n_failed_trials == 4
    client = MlflowClient(tracking_uri=tracking_uri)
    failed = client.search_runs(
        [result.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}' and tags.family = 'broken'",
    )
    assert len(failed) == result.n_failed_trials
    assert all(run.info.status == "FAILED" for run in failed)
    assert "cannot build" in failed[0].data.tags["error"]


def test_sweep_with_no_successful_trial_fails(tracking_uri: str, broken_family: str) -> None:
    with pytest.raises(RuntimeError, match=r"all 2 trials .* first error: ValueError: cannot build"):
        run_sweep(_classification(), _config(tracking_uri, families=[broken_family], n_trials=2))
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    parents = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`airflow_mlops.kind` = 'automl_sweep'"
    )
    assert [run.info.status for run in parents] == ["FAILED"]


def test_data_problems_are_reported_before_any_trial(tracking_uri: str, broken_family: str) -> None:
    df = _classification()
    with pytest.raises(ValueError, match="target 'nope' is not a column"):
        run_sweep(df, _config(tracking_uri, target="nope"))
    rare = df.copy()
    rare.loc[:1, "label"] = "rare"
    with pytest.raises(ValueError, match=r"\{'rare': 2\}.*cv_folds=3"):
        run_sweep(rare, _config(tracking_uri))
    with pytest.raises(ValueError, match=r"\['broken'\] do not support task 'regression'"):
        run_sweep(_regression(), _config(tracking_uri, families=[broken_family]))
