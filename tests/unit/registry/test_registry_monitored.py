"""The value target drift watches, per task, from any kind's prediction output."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_mlops.registry import PredictionOutput, monitored_values


def test_monitored_values_per_task() -> None:
    proba = np.array([[0.8, 0.2], [0.3, 0.7]])
    binary = PredictionOutput(
        labels=np.array(["no", "yes"], dtype=object), probabilities=proba, classes=["no", "yes"]
    )
    np.testing.assert_allclose(monitored_values("binary", binary), [0.2, 0.7])

    labels_only = PredictionOutput(labels=np.array([1, 0, 1]), classes=[0, 1])
    assert monitored_values("binary", labels_only).tolist() == [1.0, 0.0, 1.0]
    reversed_classes = PredictionOutput(labels=np.array(["churn", "stay"]), classes=["stay", "churn"])
    assert monitored_values("binary", reversed_classes).tolist() == [1.0, 0.0]

    multiclass = PredictionOutput(
        labels=np.array(["b", "c", "a"]), probabilities=np.full((3, 3), 1 / 3), classes=["a", "b", "c"]
    )
    assert monitored_values("multiclass", multiclass).tolist() == ["b", "c", "a"]

    regression = PredictionOutput(labels=np.array([1, 2.5]))
    values = monitored_values("regression", regression)
    assert values.dtype == float and values.tolist() == [1.0, 2.5]

    with pytest.raises(ValueError, match="needs its two classes"):
        monitored_values("binary", PredictionOutput(labels=np.array([0, 1])))
    with pytest.raises(ValueError, match=r"has labels \['2'\] that are not among its classes"):
        monitored_values("binary", PredictionOutput(labels=np.array([0, 2]), classes=[0, 1]))
    with pytest.raises(ValueError, match="is not one of"):
        monitored_values("ranking", regression)
