"""Several sweep workers on one Optuna study, a worker killed mid-trial, and PostgreSQL storage.

Workers are real processes (what Airflow's mapped ``sweep_worker`` tasks are),
sharing a JournalStorage file; MLflow is SQLite under tmp_path. The worker
process runs ``run_worker`` exactly as ``SweepWorkerOperator`` does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from sklearn.datasets import make_classification

from airflow_mlops.automl import (
    SweepConfig,
    SweepHandle,
    finish_sweep,
    get_leaderboard,
    open_storage,
    prepare_sweep,
    run_sweep,
)

pytestmark = pytest.mark.integration

WORKER = """
import json, sys
import pandas as pd
from airflow_mlops.automl import SweepConfig, SweepHandle, run_worker
job = json.loads(sys.argv[1])
report = run_worker(
    pd.read_parquet(job["data"]), SweepConfig(**job["config"]), SweepHandle.from_dict(job["handle"]),
    worker_index=job["worker_index"], n_workers=job["n_workers"], progress=lambda m: print(m, flush=True),
)
print("REPORT " + json.dumps(report.to_dict()), flush=True)
"""


def _data(path: Path, n: int = 1500) -> Path:
    X, y = make_classification(n_samples=n, n_features=8, n_informative=5, random_state=0)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    df["segment"] = np.random.default_rng(0).choice(["a", "b", "c"], n)
    df["label"] = np.where(y == 1, "yes", "no")
    df.to_parquet(path)
    return path


def _config(tmp_path: Path, **overrides: Any) -> SweepConfig:
    settings: dict[str, Any] = {
        "target": "label",
        "families": ["random_forest", "extra_trees"],
        "n_trials": 6,
        "timeout_s": 900,  # the trial count ends these sweeps; the budget only guards a hung worker
        "pruner": "none",
        "n_jobs": 1,
        "ensemble": False,  # about workers; test_two_workers_share_one_study turns it on
        "study_name": "shared",
        "storage": str(tmp_path / "optuna" / "journal.log"),
        "experiment_name": "workers",
        "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "artifact_location": (tmp_path / "artifacts").as_uri(),
    }
    settings.update(overrides)
    return SweepConfig(**settings)


def _start(data: Path, config: SweepConfig, handle: SweepHandle, index: int, n: int) -> subprocess.Popen[str]:
    job = {
        "data": str(data),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "handle": handle.to_dict(),
        "worker_index": index,
        "n_workers": n,
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )


def _report(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    line = next((ln for ln in out.splitlines() if ln.startswith("REPORT ")), None)
    assert line is not None, f"worker failed:\n{err[-3000:]}"
    return dict(json.loads(line[len("REPORT ") :]))


def _study(config: SweepConfig) -> optuna.Study:
    storage = open_storage(config.storage)
    assert storage is not None
    return optuna.load_study(study_name=str(config.study_name), storage=storage)


def test_two_workers_share_one_study(tmp_path: Path) -> None:
    data = _data(tmp_path / "train.parquet", n=800)
    df = pd.read_parquet(data)
    config = _config(tmp_path, n_trials=8, ensemble=True)
    handle = prepare_sweep(df, config)
    workers = [_start(data, config, handle, index, 2) for index in range(2)]
    reports = [_report(proc) for proc in workers]

    assert sum(r["completed"] for r in reports) == 8, reports
    assert all(r["completed"] >= 1 for r in reports), f"both workers ran trials: {reports}"
    result = finish_sweep(df, config, handle)
    board = result.leaderboard
    trials = board[board["family"] != "ensemble"]
    assert sorted(trials["trial_number"]) == list(range(8)), "no trial ran twice, none lost"
    # The finishing process blends candidates from predictions the worker processes kept in MLflow.
    assert (board["family"] == "ensemble").sum() == 1, board[["family", "score"]]
    client = MlflowClient(tracking_uri=config.tracking_uri)
    children = client.search_runs(
        [result.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{handle.parent_run_id}'"
    )
    assert {run.data.tags.get("worker_index") for run in children} == {"0", "1", None}
    assert {run.info.run_id for run in children} == set(board["run_id"])
    # Warm starts were queued once and each ran exactly once, whichever worker took it.
    warm = trials[trials["trial_number"] < 2]
    assert sorted(warm["family"]) == ["extra_trees", "random_forest"]


def test_killed_worker_loses_no_other_trial_and_the_sweep_resumes(tmp_path: Path) -> None:
    data = _data(tmp_path / "train.parquet", n=2000)
    df = pd.read_parquet(data)
    config = _config(tmp_path, n_trials=5)
    handle = prepare_sweep(df, config)
    worker = _start(data, config, handle, 0, 1)
    deadline = time.time() + 180
    while True:  # kill it in the middle of a trial, after two complete ones
        assert worker.poll() is None, "the worker ended before it could be killed"
        assert time.time() < deadline, "the worker made no progress"
        trials = _study(config).get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING and "run_id" in t.user_attrs]
        if len(complete) >= 2 and running:
            break
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=30)

    before = _study(config).get_trials(deepcopy=False)
    done_before = {t.number: t.user_attrs["run_id"] for t in before if t.state == TrialState.COMPLETE}
    killed = [t for t in before if t.state == TrialState.RUNNING]
    assert len(done_before) >= 2 and len(killed) == 1

    # Re-running the sweep (what clearing the Airflow tasks does) resumes the same study.
    resumed = run_sweep(df, config)
    board = resumed.leaderboard
    assert len(board) == 5, "topped up to n_trials, the interrupted trial counting for nothing"
    kept = board[board["trial_number"].isin(list(done_before))]
    assert dict(zip(kept["trial_number"], kept["run_id"], strict=True)) == done_before, "not redone"
    study = _study(config)
    interrupted = study.trials[killed[0].number]
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["interrupted"]
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == killed[0].number]
    assert len(retry) == 1 and retry[0].params == killed[0].params, "its parameters ran again"
    client = MlflowClient(tracking_uri=config.tracking_uri)
    assert client.get_run(killed[0].user_attrs["run_id"]).info.status == "KILLED"
    assert resumed.parent_run_id == handle.parent_run_id


def _postgres() -> Any:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        return psycopg2.connect(
            host="127.0.0.1", port=5432, dbname="postgres", user="postgres", connect_timeout=3
        )
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 for the RDBStorage test: {exc}")


def test_rdb_storage_on_postgresql(tmp_path: Path) -> None:
    admin = _postgres()
    admin.autocommit = True
    name = f"automl_test_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        data = _data(tmp_path / "train.parquet", n=400)
        df = pd.read_parquet(data)
        config = _config(tmp_path, storage=url, n_trials=3, families=["linear"], study_name="pg")
        result = run_sweep(df, config)
        assert len(result.leaderboard) == 3
        assert get_leaderboard("pg", url)["run_id"].tolist() == result.leaderboard["run_id"].tolist()
        again = run_sweep(
            df, _config(tmp_path, storage=url, n_trials=4, families=["linear"], study_name="pg")
        )
        assert sorted(again.leaderboard["trial_number"]) == [0, 1, 2, 3]
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_a_retried_worker_recovers_its_own_trial_and_leaves_the_others_running(tmp_path: Path) -> None:
    """What Airflow's retry of a mapped sweep worker whose host died does: same index, same study."""
    data = _data(tmp_path / "train.parquet", n=2000)
    df = pd.read_parquet(data)
    config = _config(tmp_path, n_trials=8)
    handle = prepare_sweep(df, config)
    lost, other = _start(data, config, handle, 0, 2), _start(data, config, handle, 1, 2)
    deadline = time.time() + 180
    while True:  # kill worker 0 in the middle of one of its trials, after a completed one
        assert lost.poll() is None, "worker 0 ended before it could be killed"
        assert time.time() < deadline, "worker 0 made no progress"
        trials = _study(config).get_trials(deepcopy=False)
        mine = [t for t in trials if t.user_attrs.get("worker_index") == 0]
        if any(t.state == TrialState.COMPLETE for t in mine) and any(
            t.state == TrialState.RUNNING and "run_id" in t.user_attrs for t in mine
        ):
            break
        time.sleep(0.05)
    os.kill(lost.pid, signal.SIGKILL)
    lost.communicate(timeout=30)
    before = _study(config).get_trials(deepcopy=False)
    (killed,) = [t for t in before if t.state == TrialState.RUNNING and t.user_attrs.get("worker_index") == 0]
    done_before = {t.number: t.user_attrs["run_id"] for t in before if t.state == TrialState.COMPLETE}

    retry = _start(data, config, handle, 0, 2)  # the retry: worker index 0 again
    reports = [_report(retry), _report(other)]
    assert reports[1]["failed"] == 0, "the other worker's trials were left alone"
    study = _study(config)
    interrupted = study.trials[killed.number]
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["interrupted"]
    assert not [t for t in study.trials if t.user_attrs.get("interrupted") and t.number != killed.number]
    again = [t for t in study.trials if t.user_attrs.get("retry_of") == killed.number]
    assert len(again) == 1 and again[0].params == killed.params and again[0].state == TrialState.COMPLETE
    kept = {t.number: t.user_attrs["run_id"] for t in study.trials if t.number in done_before}
    assert kept == done_before and all(study.trials[n].state == TrialState.COMPLETE for n in done_before)
    result = finish_sweep(df, config, handle)
    assert len(result.leaderboard) == 8, "topped up to n_trials"
    assert (
        MlflowClient(tracking_uri=config.tracking_uri).get_run(killed.user_attrs["run_id"]).info.status
        == "KILLED"
    )
