"""Report predictions made elsewhere (external models, or any model scored outside this app).

An external model package has a schema but no artifact: it predicts in another
system, and that system reports each row's features, prediction and time back
here. The rows go to the same prediction log as served predictions, so
monitoring folds, buckets and judges them exactly the same way.

For service stats one report is one request: its rows share a ``request_id``
(``report-<uuid>``) and the reporter's ``caller`` when given. Neither
``cache_hit`` nor ``execution_ms`` is logged: the model ran elsewhere, so both
are unknown here (stats say so, rather than count a made-up 0 ms or a miss).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import Deployment, model_version_info
from airflow_mlops.prediction_log import (
    CALLER_COLUMN,
    REQUEST_ID_COLUMN,
    PredictionBatch,
    PredictionLogWriter,
)
from airflow_mlops.serving.inputs import Columns, parse_timestamps


def report_predictions(
    deployment_id: str,
    frame: pd.DataFrame,
    *,
    prediction_column: str,
    timestamp_column: str | None = None,
    association_id_column: str | None = None,
    settings: Settings | None = None,
    caller: str | None = None,
) -> int:
    """Log ``frame``'s rows as predictions of the deployment's current model; returns the row count.

    ``prediction_column`` holds what target drift watches: the positive class's
    probability (binary), the label (multiclass) or the value (regression).
    ``caller`` names who reported (service stats' ``numConsumers``); ``None`` logs none.
    """
    cfg = settings or get_settings()
    deployment = Deployment.get(deployment_id, store_url=cfg.store_url)
    info = model_version_info(deployment.model["id"])
    needed = [*info.features, prediction_column]
    for optional in (timestamp_column, association_id_column):
        if optional is not None:
            needed.append(optional)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"reported predictions lack the column(s) {missing}; the model's features are {info.features}"
        )
    if frame[prediction_column].isna().any():
        row = int(np.flatnonzero(frame[prediction_column].isna().to_numpy())[0])
        raise ValueError(
            f"row {row}: column {prediction_column!r} is empty; every reported row needs a prediction"
        )
    # The same ISO-8601 rule and row-naming error as a request's timestampColumn.
    when = parse_timestamps(Columns.from_frame(frame), timestamp_column, datetime.now(UTC))
    values = frame[prediction_column]
    if info.task == "multiclass":
        predictions = values.map(str).to_numpy(dtype=object)
    else:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            row = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            raise ValueError(
                f"row {row}: column {prediction_column!r} value {values.iloc[row]!r} is not a number; "
                f"a {info.task} model's reported prediction is its score"
            )
        predictions = numbers.to_numpy(dtype=float)
    ids = None if association_id_column is None else frame[association_id_column].map(str).tolist()
    request: dict[str, str] = {REQUEST_ID_COLUMN: f"report-{uuid.uuid4().hex}"}
    if caller is not None:
        request[CALLER_COLUMN] = caller
    batch = PredictionBatch(
        size=len(frame),
        timestamp=when,
        model_version=info.ref.version,
        status_code=200,
        latency_ms=0.0,
        prediction=predictions,
        features=frame[info.features].reset_index(drop=True),
        association_id=ids,
        extras=request,
    )
    with PredictionLogWriter(cfg.prediction_log_dir) as writer:
        writer.append_batch(deployment_id, batch)
    return len(frame)
