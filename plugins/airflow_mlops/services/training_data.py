"""The training set of a retrain: the policy's window of recent labelled data.

Two kinds of rows go in, both cut to the window ``(as_of - data_window, as_of]``:

* rows of the policy's ``source`` (a CSV, Parquet or JSON Lines file of labelled
  history, read in chunks so only the window is ever held), kept to the
  model's features, its target and the timestamp column;
* the deployment's own logged predictions whose association id has an actual:
  the features exactly as the model saw them, the actual as the target, the
  prediction time as the timestamp. This is how a concept change that only
  ground truth reveals reaches the challenger.

The result has the champion's feature columns, the target and (when the policy
names one) the timestamp column, whatever the source holds besides: every
retrain of a deployment then ingests the same columns into the same dataset,
and its contract stays stable. ``as_of`` is the request's time (a monitoring
window's end, a schedule's firing), so a backfill trains on what was recent
then.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.prediction_log import feature_frame, list_log_files, read_log_files
from airflow_mlops.registry import ModelRef, get_model_version, model_version_info
from airflow_mlops.retraining.policy import retraining_policy
from airflow_mlops.storage import StoragePath
from airflow_mlops.store import ActualRow, session_scope

__all__ = ["MIN_ROWS", "TrainingSet", "build_training_set", "labelled_predictions"]

#: Fewer labelled rows than this cannot be split into a training part and a
#: holdout big enough to judge a challenger on.
MIN_ROWS = 100
_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class TrainingSet:
    path: str
    rows: int
    rows_from_source: int
    rows_from_actuals: int
    window_start: str | None
    window_end: str
    time_column: str | None
    target: str
    features: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _source_chunks(source: str) -> Iterator[pd.DataFrame]:
    lowered = source.lower()
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        lowered = lowered.removesuffix(suffix)
    if lowered.endswith(".csv"):
        yield from pd.read_csv(source, chunksize=_CHUNK_ROWS)
    elif lowered.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(source).iter_batches(batch_size=_CHUNK_ROWS):
            yield batch.to_pandas()
    elif lowered.endswith((".jsonl", ".ndjson")):
        yield from pd.read_json(source, lines=True, chunksize=_CHUNK_ROWS)
    else:
        raise ValueError(
            f"retraining source {source!r} is not valid; expected a .csv, .parquet or .jsonl file"
        )


def _times(values: pd.Series, source: str, column: str) -> pd.Series:
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna() & values.notna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(
            f"{source}: column {column!r} has a value that is not a timestamp: "
            f"{values.iloc[row]!r} (in data row {values.index[row] + 1}); expected ISO-8601"
        )
    return parsed


def _source_rows(
    source: str,
    *,
    columns: list[str],
    time_column: str | None,
    start: datetime | None,
    end: datetime,
) -> pd.DataFrame:
    if not Path(source).exists() and "://" not in source:
        raise FileNotFoundError(f"retraining source {source!r} does not exist")
    kept: list[pd.DataFrame] = []
    offset = 0
    for chunk in _source_chunks(source):
        chunk.index = pd.RangeIndex(offset, offset + len(chunk))
        offset += len(chunk)
        missing = [c for c in columns if c not in chunk.columns]
        if missing:
            raise ValueError(
                f"retraining source {source!r} lacks column(s) {missing}; the model needs {columns}"
            )
        if time_column is not None:
            stamps = _times(chunk[time_column], source, time_column)
            inside = stamps <= pd.Timestamp(end)
            if start is not None:
                inside &= stamps > pd.Timestamp(start)
            chunk = chunk.loc[inside, columns].assign(**{time_column: stamps[inside]})
        else:
            chunk = chunk[columns]
        kept.append(chunk)
    frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=columns)
    return frame


def labelled_predictions(
    deployment_id: str,
    *,
    features: list[str],
    target: str,
    classes: list[Any] | None,
    target_type: str,
    start: datetime | None,
    end: datetime,
    log_root: StoragePath,
    store_url: str,
) -> pd.DataFrame:
    """Logged predictions in ``(start, end]`` joined with their actuals: features, target, ``timestamp``.

    Only rows the server answered and logged with their features count (data
    collection off keeps none). An association id scored twice keeps its last
    prediction's features. Actual values are stored as text; they are read
    back as numbers for regression and as the model's own class labels
    otherwise, so they stack with the source's rows.
    """

    columns = [*features, target, "timestamp"]
    files = list_log_files(log_root, deployment_id, start=start, end=end - timedelta(microseconds=1))
    log = read_log_files(files)
    if log.empty or "association_id" not in log:
        return pd.DataFrame(columns=columns)
    stamps = pd.to_datetime(log["timestamp"], utc=True)
    keep = log["association_id"].notna() & (log["status_code"].astype("Int64") < 400) & (stamps <= end)
    if start is not None:
        keep &= stamps > start
    if "data_collected" in log:
        keep &= log["data_collected"].fillna(True).astype(bool)
    log = log.loc[keep].drop_duplicates("association_id", keep="last")
    shown = feature_frame(log)
    if log.empty or any(f not in shown.columns for f in features):
        return pd.DataFrame(columns=columns)
    ids = [str(v) for v in log["association_id"]]
    actuals: dict[str, str] = {}
    with session_scope(store_url) as session:
        for lo in range(0, len(ids), 500):
            query = select(ActualRow.association_id, ActualRow.actual_value).where(
                ActualRow.deployment_id == deployment_id,
                ActualRow.association_id.in_(ids[lo : lo + 500]),
            )
            actuals.update({aid: value for aid, value in session.execute(query)})
    frame = shown[features].copy()
    frame[target] = [actuals.get(aid) for aid in ids]
    frame["timestamp"] = stamps.loc[log.index].to_numpy()
    frame = frame[frame[target].notna()].reset_index(drop=True)
    if target_type == "Regression":
        frame[target] = frame[target].astype(float)
    elif classes:
        label = {str(c): c for c in classes}
        frame[target] = frame[target].map(lambda v: label.get(str(v), v))
    return frame[columns]


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def build_training_set(
    deployment_id: str,
    *,
    as_of: datetime,
    out_path: Path,
    source: str | None = None,
    store_url: str | None = None,
    progress: Any = None,
) -> TrainingSet:
    """Write the policy's window of labelled rows to ``out_path`` (Parquet) and describe it.

    ``source`` overrides the policy's. Raises ``ValueError`` naming the window,
    the source and the counts when fewer than :data:`MIN_ROWS` rows are found,
    before anything is written.
    """

    if as_of.tzinfo is None:
        raise ValueError(f"as_of={as_of!r} is naive; pass a timezone-aware (UTC) datetime")
    settings = get_settings()
    url = store_url or settings.store_url
    deployment = Deployment.get(deployment_id, store_url=url)
    policy = retraining_policy(deployment)
    end = as_of.astimezone(UTC)
    start = None if policy.data_window is None else end - policy.data_window
    info = model_version_info(deployment.model["id"])
    features, target = list(info.features), info.target
    time_column = policy.timestamp_column
    source = source or policy.source
    say = progress or (lambda _message: None)

    parts: list[pd.DataFrame] = []
    from_source = 0
    if source:
        rows = _source_rows(
            source, columns=[*features, target], time_column=time_column, start=start, end=end
        )
        from_source = len(rows)
        parts.append(rows)
        say(f"source {source}: {from_source} rows in the window")
    ref = ModelRef.parse(deployment.model["id"])
    classes = get_model_version(
        ref.name,
        ref.version,
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_registry_uri,
    ).classes
    labelled = labelled_predictions(
        deployment_id,
        features=features,
        target=target,
        classes=list(classes) if classes else None,
        target_type=deployment.model["target_type"],
        start=start,
        end=end,
        log_root=settings.prediction_log_dir,
        store_url=url,
    )
    say(f"prediction log: {len(labelled)} predictions with actuals in the window")
    if time_column is not None:
        labelled = labelled.rename(columns={"timestamp": time_column})
    else:
        labelled = labelled.drop(columns=["timestamp"])
    parts.append(labelled)
    non_empty = [p for p in parts if len(p)]
    frame = pd.concat(non_empty, ignore_index=True) if non_empty else labelled
    window = f"({'-inf' if start is None else start.isoformat()}, {end.isoformat()}]"
    if len(frame) < MIN_ROWS:
        raise ValueError(
            f"deployment {deployment_id}: the retraining window {window} holds {len(frame)} labelled rows "
            f"({from_source} from source {source!r}, {len(labelled)} logged predictions with actuals); "
            f"need at least {MIN_ROWS}: widen retraining.data_window, set retraining.source or submit actuals"
        )
    if time_column is not None:
        frame = frame.sort_values(time_column, kind="stable").reset_index(drop=True)
    _write(frame, out_path)
    return TrainingSet(
        path=str(out_path),
        rows=len(frame),
        rows_from_source=from_source,
        rows_from_actuals=len(labelled),
        window_start=None if start is None else start.isoformat(),
        window_end=end.isoformat(),
        time_column=time_column,
        target=target,
        features=features,
    )
