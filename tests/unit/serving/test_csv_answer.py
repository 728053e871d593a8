"""DataRobot's CSV columns for the shapes the session's registered models do not cover.

The binary and regression answers are checked end to end through
``datarobot-predict`` (tests/unit/api/test_datarobot_predict.py); multiclass and
prediction warnings are checked here on answer rows as the route builds them.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from airflow_mlops.registry import ModelRef, ModelVersionInfo
from airflow_mlops.serving.csv_answer import csv_body, wants_csv


def _info(task: str, target: str) -> ModelVersionInfo:
    return ModelVersionInfo(ModelRef("m", "1"), target, task, ["x"], "linear", None)


def test_multiclass_has_one_probability_column_per_class_then_the_label() -> None:
    rows = [
        {
            "rowId": i,
            "prediction": label,
            "predictionValues": [
                {"label": c, "value": p} for c, p in zip(["cat", "lion", "lynx"], probs, strict=True)
            ],
            "passthroughValues": {"id": f"r{i}"},
        }
        for i, (label, probs) in enumerate([("lynx", [0.28, 0.24, 0.48]), ("cat", [0.5, 0.3, 0.2])])
    ]
    frame = pd.read_csv(io.BytesIO(csv_body(_info("multiclass", "species"), rows)))
    assert list(frame.columns) == [
        "species_cat_PREDICTION",
        "species_lion_PREDICTION",
        "species_lynx_PREDICTION",
        "species_PREDICTION",
        "id",
    ]
    assert list(frame["species_lynx_PREDICTION"]) == [0.48, 0.2]
    assert list(frame["species_PREDICTION"]) == ["lynx", "cat"]
    assert list(frame["id"]) == ["r0", "r1"]


def test_prediction_warnings_add_is_outlier_prediction() -> None:
    rows = [
        {
            "rowId": i,
            "prediction": v,
            "predictionValues": [{"label": "y", "value": v}],
            "predictionWarning": {"isOutlierPrediction": v > 100},
        }
        for i, v in enumerate([12.5, 250.0])
    ]
    frame = pd.read_csv(io.BytesIO(csv_body(_info("regression", "y"), rows)))
    assert list(frame.columns) == ["y_PREDICTION", "IS_OUTLIER_PREDICTION"]
    assert list(frame["y_PREDICTION"]) == [12.5, 250.0]
    assert list(frame["IS_OUTLIER_PREDICTION"]) == [False, True]


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/csv", True),
        ("TEXT/CSV; charset=utf-8", True),
        ("application/json, text/csv", False),
        ("application/json;q=0.5, text/csv", True),
        ("text/html, text/csv;q=0.9, */*;q=0.1", True),
    ],
)
def test_csv_only_when_the_caller_prefers_it(accept: str | None, csv: bool) -> None:
    assert wants_csv(accept) is csv
