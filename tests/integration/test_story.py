"""The foundation story end to end through the real DAGs (``dag.test()``), on a fresh MLOPS_HOME.

Raw CSV → mlops_train (ingest, Optuna sweep, MLflow registration, deployment) → a real
prediction server on loopback → mlops_monitor (drift passes, then fails) → a retrain
request → mlops_retrain → replace_model(DATA_DRIFT) → the server switches models.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from airflow_mlops.config import get_settings
from airflow_mlops.demo import format_summary, run_story
from airflow_mlops.deployments import Deployment

pytestmark = pytest.mark.integration

LIVE_ROWS = 600
TRIALS = 4


@pytest.fixture(scope="module")
def story(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    mp = pytest.MonkeyPatch()
    mp.setenv("MLOPS_HOME", str(tmp_path_factory.mktemp("story") / "mlops"))
    cwd = tmp_path_factory.mktemp("cwd")
    mp.chdir(cwd)  # nothing may be written to wherever the user happens to stand
    from airflow_mlops.store import dispose_engines, migrate

    settings = get_settings()
    settings.ensure_dirs()
    migrate(settings.store_url)
    try:
        yield (
            run_story(settings, rows=2000, live_rows=LIVE_ROWS, trials=TRIALS, log=lambda _m: None),
            settings,
        )
    finally:
        dispose_engines()
        mp.undo()


def test_model_is_replaced_for_data_drift(story: tuple) -> None:
    result, settings = story
    history = result.history
    assert [h["reason"] for h in history] == ["INITIAL", "DATA_DRIFT"]
    assert history[-1]["old_model_version"] == "1"
    assert history[-1]["new_model_version"] == "2"
    assert history[-1]["actor"].startswith("airflow:mlops_retrain/")
    assert history[-1]["details"]["evidence"]["drift"], "the trigger's evidence is recorded"
    deployment = Deployment.get(result.deployment_id, store_url=settings.store_url)
    assert deployment.model["id"] == "churn/2"
    assert deployment.model_health["status"] == "unknown", "the new model has not been monitored yet"


def test_server_answers_with_new_model_without_restart(story: tuple) -> None:
    result, _ = story
    assert result.first_model_id == "churn/1"
    assert result.served_model_after == result.new_model_id == "churn/2"


def test_monitoring_sees_every_prediction_and_the_shift(story: tuple) -> None:
    result, _ = story
    assert result.predictions_sent == 2 * LIVE_ROWS
    stable, shifted = result.monitor_runs
    assert sum(stable["predictions_per_hour"].values()) == LIVE_ROWS
    assert sum(shifted["predictions_per_hour"].values()) == LIVE_ROWS
    assert len(stable["predictions_per_hour"]) == 12
    assert (stable["drift_status"], shifted["drift_status"]) == ("passing", "failing")
    assert result.retrain_request["reason"] == "DATA_DRIFT"
    assert result.retrain_request["deployment_id"] == result.deployment_id
    assert max(result.periods["stable"].values()) < 0.15
    assert result.periods["shifted"]["monthly_charges"] > 0.15


def test_sweep_is_tracked_and_registered_in_mlflow(story: tuple) -> None:
    result, settings = story
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    versions = client.search_model_versions("name='churn'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    first = client.get_model_version("churn", "1")
    assert first.tags["target"] == "churned"
    assert (
        str(client.get_model_version_by_alias("churn", f"deployment-{result.deployment_id}").version) == "2"
    )
    parent = first.tags["sweep_parent_run_id"]
    children = client.search_runs(
        [client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'"
    )
    assert len(children) == TRIALS
    assert 1 <= len(result.leaderboard) <= 5
    scores = [row["score"] for row in result.leaderboard]
    assert scores == sorted(scores, reverse=True)


def test_summary_names_the_replacement(story: tuple) -> None:
    result, _ = story
    text = format_summary(result)
    for expected in ("Leaderboard (top 5)", "PSI per feature per period", "DATA_DRIFT", "churn/2"):
        assert expected in text


def test_a_leaderboard_model_can_be_deployed(story: tuple) -> None:
    """DataRobot's create_from_learning_model: the runner-up of the sweep, refit and deployed."""
    result, settings = story
    entry = result.leaderboard[1]
    deployment = Deployment.create_from_learning_model(
        entry["run_id"], "runner-up", registered_model_name="churn-runner-up", store_url=settings.store_url
    )
    assert deployment.model["id"] == "churn-runner-up/1"
    assert deployment.model["target_name"] == "churned"
    assert deployment.get_baseline() is not None
    version = MlflowClient(tracking_uri=settings.mlflow_tracking_uri).get_model_version(
        "churn-runner-up", "1"
    )
    assert version.tags["learning_model_run_id"] == entry["run_id"]
    assert version.tags["family"] == entry["family"]
    assert version.tags["dataset"] == "churn"
    with pytest.raises(LookupError, match="is not an MLflow run"):
        Deployment.create_from_learning_model("0" * 32, "x", registered_model_name="y")
    parent = version.tags["sweep_parent_run_id"]
    with pytest.raises(ValueError, match="is not a sweep trial"):
        Deployment.create_from_learning_model(parent, "x", registered_model_name="y")
