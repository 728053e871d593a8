"""The closed-loop story end to end through the real DAGs (``dag.test()``), on a fresh MLOPS_HOME.

Raw CSV → mlops_train → a real prediction server on loopback → four simulated days:
stable; a launch (drift health fails → DATA_DRIFT retrain → replaced); a concept change
seen only through actuals (accuracy fails → ACCURACY retrain → replaced); a weekly
scheduled refresh whose challenger is not better by the margin (registered, not deployed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from airflow_mlops.config import get_settings
from airflow_mlops.demo import DAYS, EXPLANATIONS, FAIRNESS, POLICY, format_summary, run_story
from airflow_mlops.deployments import Deployment

pytestmark = pytest.mark.integration

LIVE_ROWS = 1500
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
            run_story(
                settings, rows=2000, live_rows=LIVE_ROWS, trials=TRIALS, report=False, log=lambda _m: None
            ),
            settings,
        )
    finally:
        dispose_engines()
        mp.undo()


def test_health_per_day_follows_the_story(story: tuple) -> None:
    result, _ = story
    health = [(d.drift, d.accuracy) for d in result.days]
    assert health == [
        ("passing", "passing"),  # stable
        ("failing", "unavailable"),  # the launch: no actuals yet, drift is the early warning
        ("passing", "failing"),  # the concept change: features as the new model saw them
        ("passing", "passing"),  # steady on the model retrained on the new concept
    ]
    assert [d.service for d in result.days] == ["passing"] * 4, "a warm server answers fast from the start"
    assert [d.predictions for d in result.days] == [LIVE_ROWS] * len(DAYS)
    assert "internet_service" in result.days[1].drift_message


def test_each_failing_health_retrains_and_replaces_with_its_reason(story: tuple) -> None:
    result, settings = story
    # Fairness (reason OTHER) is left to a person by the story's policy: recorded, suppressed.
    fairness = [r for d in result.days for r in d.requests if r["reason"] == "OTHER"]
    assert all(r["status"] == "suppressed" and r["evidence"]["kind"] == "fairness" for r in fairness)
    by_day = {d.day: [r for r in d.requests if r["reason"] != "OTHER"] for d in result.days}
    assert by_day[1] == []
    [drift], [accuracy], [_refresh] = by_day[2], by_day[3], by_day[4]
    assert (drift["reason"], drift["origin"], drift["status"]) == ("DATA_DRIFT", "monitor", "replaced")
    assert (accuracy["reason"], accuracy["origin"], accuracy["status"]) == ("ACCURACY", "monitor", "replaced")
    assert (drift["champion_model_id"], drift["challenger_model_id"]) == ("churn/1", "churn/2")
    assert (accuracy["champion_model_id"], accuracy["challenger_model_id"]) == ("churn/2", "churn/3")
    for request in (drift, accuracy):
        scores = request["scores"]
        assert scores["metric"] == POLICY["metric"] and scores["margin"] == POLICY["margin"]
        assert scores["challenger"] - scores["champion"] >= POLICY["margin"]
        assert scores["rows"] > 0
    assert drift["evidence"]["drift"]["internet_service"] > 0.15, "the trigger's evidence is kept"
    assert "LogLoss" in accuracy["evidence"]["message"]
    assert [d.served_model for d in result.days] == ["churn/1", "churn/2", "churn/3", "churn/3"]

    history = result.history
    assert [h["reason"] for h in history] == ["INITIAL", "DATA_DRIFT", "ACCURACY"]
    for entry, request in zip(history[1:], (drift, accuracy), strict=True):
        details = entry["details"]
        assert details["request_id"] == request["id"]
        assert details["scores"]["challenger"] == request["scores"]["challenger"]
        assert details["evidence"] == request["evidence"]
        assert details["dag_run_id"] == request["dag_run_id"]
        assert entry["actor"] == f"airflow:mlops_retrain/{request['dag_run_id']}"
    deployment = Deployment.get(result.deployment_id, store_url=settings.store_url)
    assert deployment.model["id"] == result.final_model_id == "churn/3"


def test_the_scheduled_refresh_that_is_not_better_is_not_deployed(story: tuple) -> None:
    result, settings = story
    [refresh] = [r for r in result.days[3].requests if r["reason"] != "OTHER"]
    assert (refresh["reason"], refresh["origin"], refresh["status"]) == (
        "SCHEDULED_REFRESH",
        "schedule",
        "not_replaced",
    )
    assert refresh["evidence"]["schedule"] == POLICY["refresh_schedule"]
    assert refresh["scores"]["challenger"] - refresh["scores"]["champion"] < POLICY["margin"]
    assert refresh["message"].startswith("not replaced: AUC on")
    assert result.registered_versions == ["churn/1", "churn/2", "churn/3", "churn/4"]
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    alias = client.get_model_version_by_alias("churn", f"deployment-{result.deployment_id}")
    assert str(alias.version) == "3", "the losing challenger is registered but not deployed"


def test_monitoring_sees_every_prediction_and_the_shift(story: tuple) -> None:
    result, _ = story
    assert result.predictions_sent == LIVE_ROWS * len(DAYS)
    assert max(result.periods["day 1"].values()) < 0.15
    assert result.periods["day 2"]["internet_service"] > 0.15


def test_sweep_is_tracked_and_registered_in_mlflow(story: tuple) -> None:
    result, settings = story
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    first = client.get_model_version("churn", "1")
    assert first.tags["target"] == "churned"
    parent = first.tags["sweep_parent_run_id"]
    children = client.search_runs(
        [client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'"
    )
    kinds = [run.data.tags.get("airflow_mlops.kind") for run in children]
    # Every trial is tracked, and beside them at most one ensemble of the best of them.
    assert kinds.count("automl_trial") == TRIALS
    assert set(kinds) <= {"automl_trial", "automl_ensemble"} and kinds.count("automl_ensemble") <= 1
    assert 1 <= len(result.leaderboard) <= 5
    scores = [row["score"] for row in result.leaderboard]
    assert scores == sorted(scores, reverse=True)


def test_summary_prints_the_timeline(story: tuple) -> None:
    result, _ = story
    text = format_summary(result)
    for expected in (
        "Leaderboard (top 5)",
        "Timeline (health per day",
        "→ DATA_DRIFT requested by monitor: replaced",
        "→ ACCURACY requested by monitor: replaced",
        "→ SCHEDULED_REFRESH requested by schedule: not_replaced",
        "AUC champion churn/3",
        "PSI per feature",
        "churn/4",
    ):
        assert expected in text, expected


def test_one_prediction_is_explained_in_datarobots_shape(story: tuple) -> None:
    result, _ = story
    explained = result.explained
    assert explained["passthroughValues"]["customer_id"].startswith("CON-")  # the last day's first row
    explanations = explained["predictionExplanations"]
    assert len(explanations) == EXPLANATIONS
    inputs = {"tenure_months", "monthly_charges", "total_charges", "support_calls"}
    inputs |= {"contract", "payment_method", "internet_service", "senior"}
    assert {e["feature"] for e in explanations} <= inputs, "contributions are summed back to input columns"
    strengths = [abs(e["strength"]) for e in explanations]
    assert strengths == sorted(strengths, reverse=True) and strengths[0] > 0
    for e in explanations:
        assert set(e["qualitativeStrength"]) == {"+" if e["strength"] >= 0 else "-"}
    text = format_summary(result)
    assert "One prediction explained" in text and explanations[0]["feature"] in text


def test_fairness_is_judged_every_day_and_read_per_group(story: tuple) -> None:
    result, settings = story
    statuses = [d.fairness for d in result.days]
    assert set(statuses) <= {"passing", "warning", "failing"}, statuses
    assert statuses[0] == "passing", result.days[0].fairness_message
    fairness = result.fairness
    assert fairness["fairnessMetricsSet"] == FAIRNESS["fairness_metric_set"]
    [feature] = fairness["features"]
    assert feature["protectedFeature"] == "senior"
    assert {s["label"] for s in feature["scores"]} == {"0", "1"}
    assert sum(s["sampleSize"] for s in feature["scores"]) == LIVE_ROWS
    deployment = Deployment.get(result.deployment_id, store_url=settings.store_url)
    assert deployment.fairness_health["status"] == statuses[-1]
    text = format_summary(result)
    assert f"fairness {statuses[0]}" in text and "senior=1" in text


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
