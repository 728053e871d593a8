"""DataRobot's predictionExplanations shape: top N by |strength|, values as sent, qualitative marks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from airflow_mlops.explanations import qualitative_strength, top_explanations


@pytest.mark.parametrize(
    ("strength", "largest", "marks"),
    [
        (1.0, 1.0, "+++"),
        (0.51, 1.0, "+++"),
        (0.5, 1.0, "++"),
        (0.21, 1.0, "++"),
        (0.2, 1.0, "+"),
        (0.01, 1.0, "+"),
        (-0.9, 1.0, "---"),
        (-0.3, 1.0, "--"),
        (-0.1, 1.0, "-"),
        (0.0, 0.0, "+"),
    ],
)
def test_qualitative_strength_is_the_share_of_the_rows_largest(
    strength: float, largest: float, marks: str
) -> None:
    assert qualitative_strength(strength, largest) == marks


def test_top_explanations_are_the_strongest_in_order_with_their_values() -> None:
    values = np.array([[0.1, -0.8, 0.3, 0.0], [0.0, 0.0, 0.0, 0.05]])
    columns = [[1, 2], ["a", None], [float("nan"), 3.5], [np.int64(7), np.float64(0.25)]]
    rows = top_explanations(values, ["w", "x", "y", "z"], columns, ["yes", "yes"], 3)
    assert [e["feature"] for e in rows[0]] == ["x", "y", "w"]
    assert rows[0][0] == {
        "label": "yes",
        "feature": "x",
        "featureValue": "a",
        "strength": -0.8,
        "qualitativeStrength": "---",
    }
    assert rows[0][1]["featureValue"] is None  # NaN is null in JSON
    assert [e["qualitativeStrength"] for e in rows[0]] == ["---", "++", "+"]
    assert rows[1][0]["feature"] == "z" and rows[1][0]["featureValue"] == 0.25
    assert isinstance(rows[1][0]["featureValue"], float) and not math.isnan(rows[1][0]["featureValue"])
    # Ties keep the model's column order.
    assert [e["feature"] for e in rows[1]] == ["z", "w", "x"]
