"""Prediction explanations on the prediction route: ``maxExplanations``, ``thresholdHigh``, ``thresholdLow``.

Only a request that asks (``maxExplanations`` of 1 or more) pays anything:
the route checks these parameters only when a query string is sent, and the
explainer of a loaded model (:class:`ExplainerSlot`) is built on the first
request that asks, from the training rows the model's baseline keeps
(``Baseline.sample``, taken when the model is loaded). A deployment made
without its training data (DataRobot's ``fromModelPackage/``, an operator
without a snapshot) keeps none: its tree models are still explained (they
need no background), the others answer 422 saying so. Explanations are
computed after the micro-batched model call, in a worker thread, from the
rows' own answers: the class a row explains and the value the thresholds
compare come from its ``predictionValues``, so nothing is predicted twice.

Thresholds as DataRobot's API defines them: with either given, only rows
whose prediction (a binary model's positive-class probability, a
multiclass model's predicted-class probability, a regression's value) is
above ``thresholdHigh`` or below ``thresholdLow`` are explained; the others
answer ``predictionExplanations: []``.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from airflow_mlops.explanations import (
    MAX_EXPLANATIONS,
    ModelExplainer,
    explainer_kind,
    needs_background,
    top_explanations,
)
from airflow_mlops.serving.inputs import Columns, PredictionInputError, prepare_features

__all__ = [
    "BACKGROUND_SAMPLE_ROWS",
    "ExplainRequest",
    "ExplainerSlot",
    "add_explanations",
    "explain_request",
    "explain_rows",
]

_WHOLE = re.compile(r"[0-9]{1,3}")
#: Training rows of the baseline's sample kept per loaded model as the explainers' background.
BACKGROUND_SAMPLE_ROWS = 100


@dataclass(frozen=True)
class ExplainRequest:
    """What a prediction request asked to be explained."""

    limit: int
    high: float | None = None
    low: float | None = None

    def selects(self, value: float) -> bool:
        if self.high is None and self.low is None:
            return True
        return (self.high is not None and value > self.high) or (self.low is not None and value < self.low)


def explain_request(
    max_explanations: str | None, threshold_high: float | None, threshold_low: float | None
) -> ExplainRequest | None:
    """The checked parameters, or ``None`` when no explanation is asked (absent or 0); 422 names a bad one."""
    if max_explanations is None:
        return None
    text = max_explanations.strip()
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not _WHOLE.fullmatch(text) or int(text) > MAX_EXPLANATIONS:
        raise PredictionInputError(
            f"maxExplanations={max_explanations!r} is not valid: expected a whole number from 0 to "
            f"{MAX_EXPLANATIONS} (0 or leaving it out: no explanations)"
        )
    limit = int(text)
    if limit == 0:
        return None
    for name, value in (("thresholdHigh", threshold_high), ("thresholdLow", threshold_low)):
        if value is not None and not math.isfinite(value):
            raise PredictionInputError(f"{name}={value!r} is not valid: expected a finite number")
    return ExplainRequest(limit, threshold_high, threshold_low)


@dataclass
class ExplainerSlot:
    """A loaded model's explainer, built on first use from the training rows kept at load (tree models: if any)."""

    sample: list[dict[str, Any]] = field(default_factory=list)
    _explainer: ModelExplainer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(
        self, model: Any, model_id: str, features: list[str], types: dict[str, str] | None
    ) -> ModelExplainer:
        with self._lock:
            if self._explainer is None:
                pipeline = getattr(model, "pipeline", None)
                if getattr(model, "kind", None) != "automl" or pipeline is None:
                    raise PredictionInputError(
                        f"maxExplanations: model {model_id!r} is a {getattr(model, 'kind', 'custom')} model; "
                        "prediction explanations are computed for AutoML models only; leave maxExplanations out"
                    )
                if not self.sample and needs_background(pipeline):
                    raise PredictionInputError(
                        f"maxExplanations: model {model_id!r} has no training sample in its deployment "
                        f"baseline to explain against (its {explainer_kind(pipeline)} explainer needs "
                        "training rows; only tree models are explained without them): deploy it with its "
                        "training data (e.g. DeployModelOperator with its snapshot), or leave maxExplanations out"
                    )
                background = None
                if self.sample:
                    rows = Columns.from_records(self.sample)
                    background = prepare_features(rows, features, types).to_frame(features)
                self._explainer = ModelExplainer(pipeline, background)
            return self._explainer


def _row_targets(
    rows: list[dict[str, Any]], classes: list[Any] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per row: the value thresholds compare, and the class index explained (``None`` for regression)."""
    if classes is None:
        return np.asarray([float(row["prediction"]) for row in rows]), None
    probabilities = np.asarray([[v["value"] for v in row["predictionValues"]] for row in rows], dtype=float)
    if len(classes) == 2:
        return probabilities[:, 1], np.ones(len(rows), dtype=np.intp)
    picked = np.argmax(probabilities, axis=1).astype(np.intp)
    return probabilities[np.arange(len(rows)), picked], picked


def add_explanations(
    explainer: ModelExplainer,
    features: Columns,
    rows: list[dict[str, Any]],
    request: ExplainRequest,
    target: str,
) -> None:
    """Add ``predictionExplanations`` to each answered row (``[]`` for rows the thresholds leave out)."""
    values, classes = _row_targets(rows, explainer.classes)
    chosen = np.flatnonzero([request.selects(float(v)) for v in values])
    for row in rows:
        row["predictionExplanations"] = []
    if len(chosen) == 0:
        return
    frame: pd.DataFrame = features.to_frame(explainer.features).iloc[chosen]
    explanation = explainer.explain(frame, None if classes is None else classes[chosen])
    if explainer.classes is None:
        labels: list[Any] = [target] * len(chosen)
    else:
        picked = explanation.class_index
        assert picked is not None
        labels = [_plain(explainer.classes[int(k)]) for k in picked]
    shown = [frame[name].tolist() for name in explainer.features]
    for i, explained in zip(
        chosen,
        top_explanations(explanation.values, explainer.features, shown, labels, request.limit),
        strict=True,
    ):
        rows[int(i)]["predictionExplanations"] = explained


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def explain_rows(loaded: Any, features: Columns, rows: list[dict[str, Any]], request: ExplainRequest) -> None:
    """:func:`add_explanations` with ``loaded``'s explainer (a ``serving.model_cache.LoadedModel``)."""
    info = loaded.info
    explainer = loaded.explainer.get(loaded.model, info.ref.id, info.features, loaded.feature_types)
    add_explanations(explainer, features, rows, request, info.target)
