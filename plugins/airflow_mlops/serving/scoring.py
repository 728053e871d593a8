"""Score a frame through a loaded deployment model, and shape what is answered and logged.

Real-time requests (``serving.app``) and batch scoring (``serving.batch``) both
go through :func:`score_frame` and :func:`log_batch`, so a batch-scored row is
answered and logged exactly like a real-time one: same checks, same association
ids, same prediction warnings, same log columns, same data-collection rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from airflow_mlops.prediction_log import (
    CACHE_HIT_COLUMN,
    CALLER_COLUMN,
    EXECUTION_COLUMN,
    REQUEST_ID_COLUMN,
    WARNING_COLUMN,
    PredictionBatch,
)
from airflow_mlops.serving.inputs import (
    Columns,
    PredictionInputError,
    association_ids,
    json_values,
    passthrough_columns,
    prepare_features,
)
from airflow_mlops.serving.model_cache import LoadedModel
from airflow_mlops.serving.warnings import outside


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def predict_rows(
    loaded: LoadedModel, features: Columns | pd.DataFrame
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """DataRobot-shaped rows, and per row the value target drift watches (see ``monitored_values``).

    ``features`` must already be checked (:func:`~airflow_mlops.serving.inputs.prepare_features`).
    Rows are built from plain Python lists (``tolist``), not numpy scalars: this runs
    for every answered row, and boxing a numpy scalar per value showed in profiles.
    """
    from airflow_mlops.registry import ExternalModelError, monitored_values

    names = loaded.info.features
    frame = features.to_frame(names) if isinstance(features, Columns) else features[names]
    try:
        output = loaded.model.predict(frame)
    except ExternalModelError as exc:
        raise PredictionInputError(str(exc)) from exc
    labels = _plain_list(output.labels)
    rows: list[dict[str, Any]]
    if output.probabilities is not None and output.classes is not None:
        classes = _plain_list(output.classes)
        probabilities = np.asarray(output.probabilities, dtype=float).tolist()
        if len(classes) == 2:  # binary, the common case: no inner loop per row (half the time)
            c0, c1 = classes
            rows = [
                {
                    "rowId": i,
                    "prediction": label,
                    "predictionValues": [{"label": c0, "value": p0}, {"label": c1, "value": p1}],
                }
                for i, (label, (p0, p1)) in enumerate(zip(labels, probabilities, strict=True))
            ]
        else:
            rows = [
                {
                    "rowId": i,
                    "prediction": label,
                    "predictionValues": [
                        {"label": c, "value": p} for c, p in zip(classes, probs, strict=True)
                    ],
                }
                for i, (label, probs) in enumerate(zip(labels, probabilities, strict=True))
            ]
    elif loaded.info.task == "regression":
        target = loaded.info.target
        values = np.asarray(output.labels, dtype=float).tolist()
        rows = [
            {"rowId": i, "prediction": v, "predictionValues": [{"label": target, "value": v}]}
            for i, v in enumerate(values)
        ]
    else:
        rows = [
            {"rowId": i, "prediction": label, "predictionValues": [{"label": label, "value": 1.0}]}
            for i, label in enumerate(labels)
        ]
    return rows, monitored_values(loaded.info.task, output)


def _plain_list(values: Any) -> list[Any]:
    """Python values for JSON: numpy arrays through ``tolist``, numpy scalars through ``item``."""
    if isinstance(values, np.ndarray):
        return cast(list[Any], values.tolist())
    return [_plain(v) for v in values]


@dataclass
class Scored:
    """One scored frame: answer rows, and what the log needs about each row."""

    rows: list[dict[str, Any]]
    logged: np.ndarray
    features: Columns
    association_ids: list[str] | None
    warnings: np.ndarray | None
    #: How long the model call that scored these rows took (ms); ``None`` if not measured.
    #: A micro-batched call serves several requests: each is charged the whole call.
    execution_ms: float | None = None


@dataclass
class Checked:
    """A request's rows after every check, before the model is called."""

    rows: Columns
    features: Columns
    passthrough: list[str]
    association_ids: list[str] | None


def check_frame(
    loaded: LoadedModel,
    frame: Columns | pd.DataFrame,
    *,
    passthrough: list[str] | None = None,
    passthrough_set: str | None = None,
) -> Checked:
    """Every check of :func:`score_frame`; raises :class:`PredictionInputError` naming row and column."""
    rows = frame if isinstance(frame, Columns) else Columns.from_frame(frame)
    features = prepare_features(rows, loaded.info.features, loaded.feature_types)
    extra = passthrough_columns(rows, passthrough, passthrough_set)
    return Checked(rows, features, extra, association_ids(rows, loaded.settings))


def call_model(
    loaded: LoadedModel, features: Columns | pd.DataFrame
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """:func:`predict_rows`, with the model's refusal of values the signature allowed as an input error."""
    try:
        return predict_rows(loaded, features)
    except PredictionInputError:
        raise
    except (ValueError, TypeError) as exc:
        raise PredictionInputError(f"the model could not score these rows: {str(exc)[:500]}") from exc


def finish_scoring(
    loaded: LoadedModel,
    checked: Checked,
    rows: list[dict[str, Any]],
    logged: np.ndarray,
    *,
    execution_ms: float | None = None,
) -> Scored:
    """Add warnings, passthrough values and association ids to the model's rows."""
    bounds = loaded.warning_boundaries
    # ``logged`` holds a regression's predictions as one float array: no per-row Python here.
    flags = outside(logged, bounds) if bounds else None
    ids = checked.association_ids
    passthrough_values = json_values(checked.rows, checked.passthrough) if checked.passthrough else None
    if passthrough_values is None and ids is None and flags is None:
        return Scored(rows, logged, checked.features, ids, flags, execution_ms)
    for i, row in enumerate(rows):
        if passthrough_values is not None:
            row["passthroughValues"] = passthrough_values[i]
        if ids is not None:
            row["associationId"] = ids[i]
        if flags is not None:
            row["predictionWarning"] = {"isOutlierPrediction": bool(flags[i])}
    return Scored(rows, logged, checked.features, ids, flags, execution_ms)


def score_frame(
    loaded: LoadedModel,
    frame: Columns | pd.DataFrame,
    *,
    passthrough: list[str] | None = None,
    passthrough_set: str | None = None,
) -> Scored:
    """Check, score and shape ``frame``; raises :class:`PredictionInputError` naming row and column.

    Every check runs before the model is called, so a refused request scores nothing.
    The real-time path runs the same three steps with the model call micro-batched
    (``serving.batching``).
    """
    checked = check_frame(loaded, frame, passthrough=passthrough, passthrough_set=passthrough_set)
    started = time.perf_counter()
    rows, logged = call_model(loaded, checked.features)
    execution_ms = (time.perf_counter() - started) * 1000.0
    return finish_scoring(loaded, checked, rows, logged, execution_ms=execution_ms)


def log_batch(
    loaded: LoadedModel,
    scored: Scored,
    stamps: datetime | pd.DatetimeIndex,
    latency_ms: float,
    *,
    status_code: int = 200,
    request_id: str | None = None,
    caller: str | None = None,
    cache_hit: bool | None = None,
) -> PredictionBatch:
    """The prediction-log rows for ``scored``, as columns (``PredictionLogWriter.append_batch``).

    ``stamps`` is one time for every row (a request scored now) or one per row.
    With ``predictions_data_collection`` off, each row keeps only what service
    health needs (timestamp, model version, status, latency, association id, and
    the request columns below) with ``data_collected=False``, no features and a
    null prediction; drift and accuracy must skip such rows (``docs/architecture.md``,
    "Serving").

    ``request_id``, ``caller``, ``cache_hit`` and ``scored.execution_ms`` become the
    log's request columns (``prediction_log.layout``), one value shared by every
    row; a ``None`` leaves its column out, so service stats say "unknown" rather
    than count a made-up value.
    """
    collect = bool(loaded.settings["predictions_data_collection"]["enabled"])
    extras: dict[str, Any] = {"data_collected": collect}
    if scored.warnings is not None:
        extras[WARNING_COLUMN] = np.asarray(scored.warnings, dtype=bool)
    for column, value in (
        (REQUEST_ID_COLUMN, request_id),
        (CALLER_COLUMN, caller),
        (CACHE_HIT_COLUMN, None if cache_hit is None else bool(cache_hit)),
        (EXECUTION_COLUMN, None if scored.execution_ms is None else float(scored.execution_ms)),
    ):
        if value is not None:
            extras[column] = value
    return PredictionBatch(
        size=len(scored.rows),
        timestamp=stamps,
        model_version=loaded.version,
        status_code=status_code,
        latency_ms=latency_ms,
        prediction=scored.logged if collect else None,
        features=scored.features.data if collect else None,
        association_id=scored.association_ids,
        extras=extras,
    )
