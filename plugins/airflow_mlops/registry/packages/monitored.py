"""The value target drift watches for a prediction: one definition for every kind of package."""

from __future__ import annotations

import numpy as np

from airflow_mlops.registry.packages.metadata import check_task
from airflow_mlops.registry.packages.predictors import PredictionOutput, class_codes


def monitored_values(task: str, output: PredictionOutput) -> np.ndarray:
    """The value target drift watches, one per row: the single definition for every kind.

    Binary: the positive (last) class's probability, so drift shows before
    labels flip; without probabilities, the label mapped to 0/1 by its
    position in ``classes``. Multiclass: the label as text (the prediction log and
    the baseline bin categories as text, so ``1`` and ``"1"`` must not differ).
    Regression: the value.
    """
    check_task(task)
    if task == "regression":
        return np.asarray(output.labels, dtype=float)
    if task == "multiclass":
        return np.asarray([str(label) for label in output.labels], dtype=object)
    if output.probabilities is not None:
        return np.asarray(output.probabilities, dtype=float)[:, -1]
    if output.classes is None or len(output.classes) != 2:
        raise ValueError(
            f"a binary output without probabilities needs its two classes to map labels to 0/1, "
            f"got classes={output.classes!r}"
        )
    return class_codes(output.labels, output.classes, "the binary output has").astype(float)
