"""One way to predict with any kind of package: :class:`Predictor` and its three implementations.

:func:`~airflow_mlops.registry.load_predictor` picks the implementation from
the version's kind; callers only see :class:`PredictionOutput`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from airflow_mlops.registry.packages.fast_pipeline import FastPipeline

#: Tolerance for a custom model's class probabilities summing to one (float32 models round).
_PROBABILITY_TOLERANCE = 1e-3


class ExternalModelError(RuntimeError):
    """Raised when something asks an external model for predictions it cannot make here.

    The prediction API turns it into a 409/422 carrying this message, so the
    caller learns where the predictions should come from instead.
    """

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        super().__init__(
            f"predictions for external model {model_id!r} are made elsewhere; report them for "
            "monitoring with airflow_mlops.serving.report_predictions(deployment_id, frame, "
            "prediction_column=...) instead of requesting them from this server"
        )


@dataclass(frozen=True)
class PredictionOutput:
    """What a model says about a batch of rows, whatever its kind.

    ``labels``: the predicted class (classification) or value (regression) per
    row. ``probabilities``: one row per input and one column per entry of
    ``classes``, in that order, or ``None`` when the model gives no
    probabilities (regression, custom models returning labels). ``classes``
    travels with the output so :func:`monitored_values` can map labels to 0/1.
    """

    labels: np.ndarray
    probabilities: np.ndarray | None = None
    classes: list[Any] | None = None


@runtime_checkable
class Predictor(Protocol):
    """A registered model version ready to predict (or to explain why it cannot)."""

    @property
    def model_id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def task(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def features(self) -> list[str]: ...

    @property
    def classes(self) -> list[Any] | None: ...

    def predict(self, x: pd.DataFrame) -> PredictionOutput:
        """Predict for ``x`` (at least the model's features; other columns are ignored)."""
        ...


def _select(x: pd.DataFrame, features: list[str], model_id: str) -> pd.DataFrame:
    missing = [name for name in features if name not in x.columns]
    if missing:
        raise ValueError(f"model {model_id!r} needs columns {missing} that the input lacks")
    if list(x.columns) == features:  # the server builds the model's frame in this order: no copy
        return x
    return x[features]


def class_codes(labels: Any, classes: list[Any], who: str) -> np.ndarray:
    """Each label's position in ``classes``; labels outside ``classes`` are an error, not a guess."""
    index = {value: position for position, value in enumerate(classes)}
    codes = [index.get(label.item() if hasattr(label, "item") else label, -1) for label in labels]
    unknown = sorted({str(label) for label, code in zip(labels, codes, strict=True) if code < 0})
    if unknown:
        raise ValueError(f"{who} labels {unknown} that are not among its classes {classes}")
    return np.asarray(codes, dtype=int)


def _labels_from_codes(codes: np.ndarray, classes: list[Any]) -> np.ndarray:
    # object dtype keeps the classes' own values (no int → str coercion of mixed labels).
    return np.array(classes, dtype=object)[codes]


@dataclass(frozen=True)
class AutoMLPredictor:
    """A scikit-learn pipeline from our sweep: probabilities from ``predict_proba``."""

    model_id: str
    task: str
    target: str
    features: list[str]
    classes: list[Any] | None
    pipeline: Any
    #: The serving shortcut through ``pipeline`` (:mod:`.fast_pipeline`), when its shape allows one.
    fast: FastPipeline | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return "automl"

    def predict(self, x: pd.DataFrame) -> PredictionOutput:
        rows = _select(x, self.features, self.model_id)
        model = self.pipeline if self.fast is None else self.fast
        if self.task == "regression":
            return PredictionOutput(labels=np.asarray(model.predict(rows), dtype=float))
        classes = self.classes or []
        proba = np.asarray(model.predict_proba(rows), dtype=float)
        # The label is the most probable class, so label and probabilities never disagree.
        return PredictionOutput(
            labels=_labels_from_codes(proba.argmax(axis=1), classes), probabilities=proba, classes=classes
        )


def _probabilities(frame: pd.DataFrame, classes: list[Any], model_id: str) -> np.ndarray:
    by_name = {str(column): column for column in frame.columns}
    ordered = frame[[by_name[str(value)] for value in classes]]
    try:
        proba = ordered.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"custom model {model_id!r} returned non-numeric class probabilities: {exc}"
        ) from exc
    if (
        not np.isfinite(proba).all()
        or (proba < -_PROBABILITY_TOLERANCE).any()
        or (proba > 1 + _PROBABILITY_TOLERANCE).any()
    ):
        raise ValueError(f"custom model {model_id!r} returned class probabilities outside [0, 1]")
    sums = proba.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=_PROBABILITY_TOLERANCE):
        raise ValueError(
            f"custom model {model_id!r} returned class probabilities that do not sum to 1 per row "
            f"(e.g. {float(sums[np.argmax(np.abs(sums - 1.0))]):.4f})"
        )
    return proba


@dataclass(frozen=True)
class PyfuncPredictor:
    """A user's MLflow pyfunc, read with this convention for its output.

    - a DataFrame whose columns are exactly the classes (any order, matched by
      their string form) → class probabilities; the label is the most probable;
    - a one-column DataFrame, a Series, a list or a 1-D array (or ``(n, 1)``
      array) → one label per row (classification; each must be one of the
      classes) or one value per row (regression);
    - anything else is refused with this convention in the message.
    """

    model_id: str
    task: str
    target: str
    features: list[str]
    classes: list[Any] | None
    model: Any

    @property
    def kind(self) -> str:
        return "custom"

    def predict(self, x: pd.DataFrame) -> PredictionOutput:
        rows = _select(x, self.features, self.model_id)
        raw = self.model.predict(rows)
        return self._read(raw, len(rows))

    def _read(self, raw: Any, n_rows: int) -> PredictionOutput:
        classes = self.classes
        if isinstance(raw, pd.DataFrame):
            columns = {str(column) for column in raw.columns}
            if (
                classes is not None
                and len(raw.columns) == len(classes)
                and columns == {str(c) for c in classes}
            ):
                self._check_rows(len(raw), n_rows)
                proba = _probabilities(raw, classes, self.model_id)
                return PredictionOutput(
                    labels=_labels_from_codes(proba.argmax(axis=1), classes),
                    probabilities=proba,
                    classes=classes,
                )
            if len(raw.columns) != 1:
                raise ValueError(self._convention(f"a DataFrame with columns {list(raw.columns)}"))
            raw = raw.iloc[:, 0]
        values = np.asarray(raw)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValueError(self._convention(f"an array of shape {values.shape}"))
        self._check_rows(len(values), n_rows)
        if self.task == "regression":
            try:
                return PredictionOutput(labels=values.astype(float))
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"custom regression model {self.model_id!r} returned non-numeric values"
                ) from exc
        assert classes is not None  # classification versions always carry classes
        codes = class_codes(values, classes, f"custom model {self.model_id!r} predicted")
        return PredictionOutput(labels=_labels_from_codes(codes, classes), classes=classes)

    def _check_rows(self, got: int, expected: int) -> None:
        if got != expected:
            raise ValueError(f"custom model {self.model_id!r} returned {got} predictions for {expected} rows")

    def _convention(self, what: str) -> str:
        wanted = (
            f"a DataFrame with one column per class {self.classes} or one label per row"
            if self.classes is not None
            else "one value per row"
        )
        return f"custom model {self.model_id!r} returned {what}; expected {wanted}"


@dataclass(frozen=True)
class ExternalPredictor:
    """An external model: known schema, predictions reported from elsewhere."""

    model_id: str
    task: str
    target: str
    features: list[str]
    classes: list[Any] | None
    feature_types: dict[str, str]

    @property
    def kind(self) -> str:
        return "external"

    def predict(self, x: pd.DataFrame) -> PredictionOutput:
        raise ExternalModelError(self.model_id)
