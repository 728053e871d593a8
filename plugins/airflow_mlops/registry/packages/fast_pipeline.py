"""A faster way through a fitted AutoML pipeline at serving time, checked against the pipeline itself.

Why: scoring a request's rows through ``Pipeline(ColumnTransformer, estimator)``
costs about 3 ms whether it holds 1 row or 800 (profiled with py-spy on the churn
pipeline, scikit-learn 1.9, pandas 2.3), and most of that is the machinery around
the arithmetic: the column transformer selecting columns with pandas ``.loc``,
each first step validating a DataFrame (feature names, narwhals' dataframe
detection, dtype checks), tags and fitted checks. The same fitted steps called
on plain NumPy columns give the same numbers in about half the time.

How it stays correct: :class:`FastPipeline` only takes pipelines of that shape
(dense output, named columns, no remainder, no pandas output), calls *the
pipeline's own fitted steps* (copies of the first steps with the fitted feature
names cleared, so scikit-learn does not warn that NumPy input has none), and
for its first :data:`VERIFY_CALLS` calls also runs the pipeline as it is and
compares. Any difference, or an error the pipeline does not also raise, turns
the fast way off for this model for good (logged once); every later call goes
through the pipeline unchanged.

The steps themselves: common ones (imputer, scaler, one-hot encoder, function
transformer, linear final estimator) are "compiled" into NumPy functions by
:mod:`.compiled_steps`, which skips scikit-learn's per-call validation (at 1-100
rows it cost more than the arithmetic); any other step is called as it is.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from airflow_mlops.registry.packages.compiled_steps import Transform, compile_estimator, compile_step

__all__ = ["VERIFY_CALLS", "FastPipeline"]

log = logging.getLogger(__name__)

#: Calls checked against the pipeline itself before the fast way is trusted alone.
VERIFY_CALLS = 3


def _plain_steps(transformer: Any) -> list[Transform] | None:
    """The transformer's fitted steps as functions, the first step copied without fitted feature names."""
    steps = [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    if any(step in (None, "passthrough", "drop") or not hasattr(step, "transform") for step in steps):
        return None
    first = copy.copy(steps[0])
    if hasattr(first, "feature_names_in_"):
        del first.feature_names_in_
    return [compile_step(step) for step in [first, *steps[1:]]]


class FastPipeline:
    """``predict``/``predict_proba`` of ``pipeline`` over NumPy columns; see the module docstring."""

    def __init__(
        self, pipeline: Pipeline, parts: list[tuple[list[str], list[Transform]]], model_id: str
    ) -> None:
        self.pipeline = pipeline
        self._parts = parts
        self._estimator = compile_estimator(pipeline.steps[-1][1])
        self._model_id = model_id
        self._verified = 0
        self._off = False
        self._lock = threading.Lock()

    @classmethod
    def maybe(cls, pipeline: Any, model_id: str) -> FastPipeline | None:
        """A fast way through ``pipeline``, or ``None`` if its shape is not one this handles."""
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            return None
        preprocess, estimator = pipeline.steps[0][1], pipeline.steps[1][1]
        if not isinstance(preprocess, ColumnTransformer) or not hasattr(estimator, "predict"):
            return None
        if getattr(preprocess, "sparse_output_", True) or getattr(preprocess, "_remainder", None) is None:
            return None
        config = getattr(preprocess, "_sklearn_output_config", {}) or {}
        if config.get("transform", "default") != "default":
            return None
        parts: list[tuple[list[str], list[Transform]]] = []
        for name, transformer, columns in preprocess.transformers_:
            if name == "remainder":
                if transformer != "drop" and len(columns):
                    return None
                continue
            if transformer == "drop":
                continue
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or not columns:
                return None
            steps = _plain_steps(transformer)
            if steps is None:
                return None
            parts.append((list(columns), steps))
        return cls(pipeline, parts, model_id) if parts else None

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return self._call("predict", rows)

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        return self._call("predict_proba", rows)

    def _call(self, method: str, rows: pd.DataFrame) -> np.ndarray:
        if self._off:
            return np.asarray(getattr(self.pipeline, method)(rows))
        try:
            fast = np.asarray(getattr(self._estimator, method)(self._transform(rows)))
        except Exception as exc:
            # The pipeline's own answer: its error for bad rows, or proof that the fast way failed alone.
            answer = np.asarray(getattr(self.pipeline, method)(rows))
            self._turn_off(f"it failed where the pipeline did not ({type(exc).__name__}: {exc})")
            return answer
        if self._verified >= VERIFY_CALLS:
            return fast
        answer = np.asarray(getattr(self.pipeline, method)(rows))
        if not _same(fast, answer):
            self._turn_off("its answer differed from the pipeline's")
            return answer
        with self._lock:
            self._verified += 1
        return fast

    def _transform(self, rows: pd.DataFrame) -> np.ndarray:
        blocks = []
        for columns, steps in self._parts:
            values = [rows[name].to_numpy() for name in columns]
            block: Any = values[0].reshape(-1, 1) if len(values) == 1 else np.column_stack(values)
            for step in steps:
                block = step(block)
            blocks.append(np.asarray(block))
        return blocks[0] if len(blocks) == 1 else np.hstack(blocks)

    def _turn_off(self, why: str) -> None:
        with self._lock:
            if self._off:
                return
            self._off = True
        log.warning(
            "model %s: scoring through the pipeline as it is from now on: the fast way %s",
            self._model_id,
            why,
        )


def _same(fast: np.ndarray, answer: np.ndarray) -> bool:
    if fast.shape != answer.shape or fast.dtype.kind != answer.dtype.kind:
        return False
    if fast.dtype.kind in "fc":
        return bool(np.allclose(fast, answer, rtol=1e-9, atol=1e-12, equal_nan=True))
    return bool(np.array_equal(fast, answer))
