"""End to end on a frame like issue 19's price regression: a text date column, a high-cardinality
category and numeric codes go through a small sweep, the winner registers, and raw rows predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from airflow_mlops.automl import SweepConfig, fit_pipeline, run_sweep
from airflow_mlops.automl.encoders import ENCODING_PARAM, HIGH_CARDINALITY_ENCODINGS
from airflow_mlops.registry import load_model, register_model

EXPERIMENT = "features-sweep-test"


def _bookings(n: int = 500) -> pd.DataFrame:
    """Price rises over time and in summer, depends on the agent (120 of them) and the room code."""
    rng = np.random.default_rng(0)
    day = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D")
    agent = rng.integers(0, 120, n)
    agent_effect = np.random.default_rng(7).normal(scale=20, size=120)
    room = rng.choice([11, 23, 47], n)
    summer = np.cos(2 * np.pi * (day.month - 7) / 12)
    price = (
        100
        + 0.02 * (day - day.min()).days
        + 15 * summer
        + agent_effect[agent]
        + np.select([room == 11, room == 23], [0, 30], 10)
        + rng.normal(scale=3, size=n)
    )
    df = pd.DataFrame(
        {
            "arrival": day.strftime("%Y-%m-%d"),  # text, as a CSV gives it
            "agent": [f"agent-{a}" for a in agent],
            "room_type": room,
            "nights": rng.integers(1, 10, n),
            "price": price,
        }
    )
    df.loc[::25, "arrival"] = None
    return df


def test_sweep_over_dates_and_high_cardinality_registers_and_predicts_raw_rows(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(tracking_uri=uri).create_experiment(EXPERIMENT, artifact_location=(tmp_path / "a").as_uri())
    df = _bookings()
    config = SweepConfig(
        target="price",
        families=["linear", "hist_gradient_boosting"],
        n_trials=8,
        pruner="none",
        seed=0,
        n_jobs=1,
        experiment_name=EXPERIMENT,
        tracking_uri=uri,
    )
    result = run_sweep(df, config)
    assert result.feature_types == {
        "arrival": "datetime",
        "agent": "high_cardinality",
        "room_type": "categorical",
        "nights": "numeric",
    }
    board = result.leaderboard.sort_values("trial_number")
    board = board[board["family"] != "ensemble"]  # a blend of these candidates: its params are its members
    encodings = [params[ENCODING_PARAM] for params in board["params"]]
    assert encodings[:2] == ["target", "target"], "warm starts use the default encoding"
    assert set(encodings) <= set(HIGH_CARDINALITY_ENCODINGS)
    assert len(set(encodings)) > 1, f"the search tried other encodings: {encodings}"

    model = fit_pipeline(
        df,
        "price",
        result.best_family,
        result.best_params,
        "regression",
        seed=0,
        feature_types=result.feature_types,
    )
    version = register_model(
        model, name="bookings", train_df=df, target="price", tracking_uri=uri, experiment_name=EXPERIMENT
    )
    loaded = load_model(version, uri)
    rows = pd.DataFrame(
        [
            {"arrival": "2024-07-15", "agent": "agent-3", "room_type": 23, "nights": 2},
            {"arrival": "2024-07-15T00:00:00Z", "agent": "agent-3", "room_type": 23.0, "nights": 2},
            {"arrival": "soon", "agent": "agent-unknown", "room_type": 99, "nights": None},
        ]
    )
    predictions = loaded.predict(rows)
    assert np.allclose(predictions, model.predict(rows))
    assert predictions[0] == predictions[1], "the same day and room code, however spelled"
    assert np.isfinite(predictions).all(), "an unparseable date, unseen agent and room code still predict"
    # The features carry the signal: the winner beats predicting the mean on the sweep's holdout.
    assert result.best_holdout_score < 0.8 * df["price"].std()
