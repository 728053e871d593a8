"""A sweep's ensemble goes the whole way like a single model: register → deploy → predict → monitor.

The same path as a single leaderboard model (``POST …/fromLearningModel/`` refits and
registers it with its baseline); real parts throughout, as in ``test_learning_model.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from helpers.learning_model import (
    accuracy_after,
    binary_frame,
    from_learning_model,
    live_client,
    sweep_snapshot,
)

from airflow_mlops.automl.ensemble import WeightedEnsemble
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.registry import get_model_version, load_model

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


@pytest.fixture
def live(mlops_home: Path) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = get_settings()
    with live_client(settings) as client:
        yield client, settings


def test_an_ensemble_registers_deploys_predicts_and_is_monitored(live: tuple[httpx.Client, Settings]) -> None:
    client, settings = live
    records = sweep_snapshot(
        settings,
        binary_frame(600, seed=3),
        "blends",
        families=["linear", "knn", "random_forest"],
        n_trials=4,
        ensemble=True,
    )
    ensembles = [r for r in records if r["family"] == "ensemble"]
    assert len(ensembles) == 1, [(r["family"], r["score"]) for r in records]
    deployment = from_learning_model(client, ensembles[0]["run_id"], "blends-lm")

    version = get_model_version(
        deployment.model["registered_model_name"],
        deployment.model["version"],
        tracking_uri=settings.mlflow_tracking_uri,
    )
    model = load_model(version, settings.mlflow_tracking_uri)
    assert isinstance(model, WeightedEnsemble)
    assert [m["family"] for m in model.members] == [m["family"] for m in ensembles[0]["params"]["members"]]
    assert version.tags["family"] == "ensemble"
    importance = version.feature_importance
    assert importance and next(iter(importance)) == "x1", "permutation importance over raw columns"

    baseline = deployment.get_baseline()
    assert baseline is not None and baseline["holdout_metrics"]["LogLoss"] is not None

    deployment.update_association_id_settings(column_names=["row_key"])
    fresh = binary_frame(80, seed=4).drop(columns="y")
    same = accuracy_after(client, deployment, settings, fresh, lambda p: p, T0)
    assert same.startswith("passing"), same
    flipped = accuracy_after(
        client, deployment, settings, fresh, lambda p: "no" if p == "yes" else "yes", T0 + timedelta(hours=2)
    )
    assert flipped.startswith("failing"), flipped
