"""The output convention of a custom pyfunc, checked on outputs alone (no MLflow model needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.registry import monitored_values
from airflow_mlops.registry.packages.predictors import PyfuncPredictor


class _Fixed:
    """A pyfunc stand-in that returns a given output (the convention is about outputs alone)."""

    def __init__(self, output: Any) -> None:
        self.output = output

    def predict(self, x: pd.DataFrame) -> Any:
        return self.output


def _pyfunc(output: Any, task: str = "binary", classes: list[Any] | None = None) -> PyfuncPredictor:
    return PyfuncPredictor(
        model_id="m/1",
        task=task,
        target="y",
        features=["a"],
        classes=classes if classes is not None or task == "regression" else ["no", "yes"],
        model=_Fixed(output),
    )


def test_pyfunc_output_convention() -> None:
    x = pd.DataFrame({"a": [1.0, 2.0]})
    # A one-column frame, a Series and an (n, 1) array are labels.
    for labels in (
        pd.DataFrame({"pred": ["yes", "no"]}),
        pd.Series(["yes", "no"]),
        np.array([["yes"], ["no"]]),
    ):
        assert _pyfunc(labels).predict(x).labels.tolist() == ["yes", "no"]
    values = _pyfunc([1.5, 2], task="regression").predict(x)
    assert values.labels.dtype == float and values.labels.tolist() == [1.5, 2.0]
    multiclass = _pyfunc(
        pd.DataFrame({"b": [0.1, 0.7], "a": [0.8, 0.2], "c": [0.1, 0.1]}), "multiclass", ["a", "b", "c"]
    )
    output = multiclass.predict(x)
    assert output.labels.tolist() == ["a", "b"]
    assert monitored_values("multiclass", output).tolist() == ["a", "b"]

    failures = [
        (
            _pyfunc(pd.DataFrame({"p": [0.1, 0.2], "q": [0.9, 0.8]})),
            "returned a DataFrame with columns ['p', 'q']",
        ),
        (_pyfunc(np.zeros((2, 3))), "returned an array of shape (2, 3)"),
        (_pyfunc(["yes"]), "returned 1 predictions for 2 rows"),
        (_pyfunc(["yes", "maybe"]), "labels ['maybe'] that are not among its classes"),
        (_pyfunc(pd.DataFrame({"no": [0.5, 0.5], "yes": [0.6, 0.5]})), "do not sum to 1"),
        (_pyfunc(pd.DataFrame({"no": [1.5, 0.5], "yes": [-0.5, 0.5]})), "outside [0, 1]"),
        (_pyfunc(["high", "low"], task="regression"), "returned non-numeric values"),
    ]
    for predictor, message in failures:
        with pytest.raises(ValueError) as caught:
            predictor.predict(x)
        assert message in str(caught.value), str(caught.value)
