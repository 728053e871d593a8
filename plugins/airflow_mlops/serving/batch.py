"""Batch scoring: a file or a table through a deployment, chunk by chunk, logged like real time.

Memory is bounded by one chunk: the source is read ``chunk_rows`` at a time
(``pandas.read_csv(chunksize=…)``, Parquet row batches, JSON Lines chunks, or a
streamed SQL cursor), each chunk is checked and scored by the same code as a
real-time request (:func:`airflow_mlops.serving.scoring.score_frame`), its rows
appended to the output file and to the prediction log, and then dropped.

The model is pinned for the whole run (the version current when the run
starts), so one output file never mixes two models. A bad row fails the run
with the *source* row number (counting data rows from 0), the column and what
was expected; rows of earlier chunks are already written and logged, which the
summary's ``rows`` reports.

External deployments predict elsewhere: their rows must already carry a
prediction (``prediction_column``); each chunk is then reported for monitoring
with :func:`~airflow_mlops.serving.reporting.report_predictions`.

With ``max_explanations`` each row also gets DataRobot's explanation columns
(``EXPLANATION_<k>_FEATURE_NAME``, ``_STRENGTH``, ``_ACTUAL_VALUE`` as text,
``_QUALITATIVE_STRENGTH``; :mod:`airflow_mlops.serving.explaining`), empty for
rows the thresholds leave out; without it nothing is computed.

For service stats each chunk is one request: its rows share a ``request_id``
(``batch-<run>-<chunk>``), the run's ``caller`` (when given), and the model
call's ``execution_ms``. ``cache_hit`` is not logged: a batch run loads its model
itself, so "was it already in the server's memory" has no answer here.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.prediction_log import PredictionLogWriter
from airflow_mlops.serving.csv_answer import EXPLANATION_FIELDS
from airflow_mlops.serving.explaining import ExplainRequest, explain_request, explain_rows
from airflow_mlops.serving.inputs import Columns, PredictionInputError, parse_timestamps
from airflow_mlops.serving.model_cache import LoadedModel, ModelCache
from airflow_mlops.serving.scoring import Scored, log_batch, score_frame

DEFAULT_CHUNK_ROWS = 10_000
_ROW = re.compile(r"^row (\d+):")


class BatchScoreError(ValueError):
    """A batch could not be scored; the message names the source row and column."""


def _renumber(message: str, offset: int) -> str:
    """'row 3: …' within a chunk → 'source row <offset + 3>: …'."""

    def shift(match: re.Match[str]) -> str:
        return f"source row {offset + int(match.group(1))}:"

    return _ROW.sub(shift, message)


def read_chunks(
    source: str | None = None,
    *,
    sql: str | None = None,
    table: str | None = None,
    connection: Any = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """A file (.csv[.gz], .parquet, .jsonl) or a SQL query/table as frames of at most ``chunk_rows``.

    Local files must be under the allowed roots (``MLOPS_ALLOWED_ROOTS``, as for
    ingestion). ``connection`` is a SQLAlchemy URL or ``Engine``; the operator
    turns an Airflow connection id into one.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    if (source is None) == (sql is None and table is None):
        raise ValueError("give either source (a file) or sql/table with a connection")
    if source is not None:
        yield from _file_chunks(source, chunk_rows)
        return
    yield from _sql_chunks(connection, sql, table, chunk_rows)


def _file_chunks(source: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    from airflow_mlops.datasets.roots import check_allowed

    path = check_allowed(source.removeprefix("file://"))
    name = path.name.lower()
    if name.endswith(".parquet"):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        yield from pd.read_json(path, lines=True, chunksize=chunk_rows, dtype=False, convert_dates=False)
    elif name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst")):
        yield from pd.read_csv(path, chunksize=chunk_rows)
    else:
        raise ValueError(f"{source}: expected a .csv(.gz), .parquet or .jsonl file to score")


def _sql_chunks(
    connection: Any, sql: str | None, table: str | None, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    import sqlalchemy as sa

    if connection is None:
        raise ValueError("scoring a SQL query or table needs a connection (an Airflow connection id or URL)")
    owned = isinstance(connection, str)  # an engine made here from a URL is disposed here; a given one is not
    engine = sa.create_engine(connection) if owned else connection
    try:
        if sql is not None:
            query = sa.text(sql)
        else:  # a table name is quoted as an identifier, never pasted into SQL as text
            query = sa.text(f"SELECT * FROM {engine.dialect.identifier_preparer.quote(str(table))}")
        with engine.connect().execution_options(stream_results=True) as conn:
            yield from pd.read_sql(query, conn, chunksize=chunk_rows)
    finally:
        if owned:
            engine.dispose()


def _output_frame(
    loaded: LoadedModel,
    chunk: pd.DataFrame,
    scored: Scored,
    passthrough: list[str],
    explain: ExplainRequest | None = None,
) -> pd.DataFrame:
    """DataRobot's batch columns: passthrough, ``<target>_<class>_PREDICTION``, ``<target>_PREDICTION``."""
    target = loaded.info.target
    out = (
        chunk[passthrough].reset_index(drop=True).copy()
        if passthrough
        else pd.DataFrame(index=range(len(chunk)))
    )
    first = scored.rows[0]["predictionValues"] if scored.rows else []
    if loaded.info.task != "regression":
        for j, value in enumerate(first):
            out[f"{target}_{value['label']}_PREDICTION"] = [
                r["predictionValues"][j]["value"] for r in scored.rows
            ]
    out[f"{target}_PREDICTION"] = [r["prediction"] for r in scored.rows]
    if scored.association_ids is not None:
        out["ASSOCIATION_ID"] = scored.association_ids
    if scored.warnings is not None:
        out["PREDICTION_WARNING"] = scored.warnings.astype(bool)
    if explain is not None:
        # Every rank up to the limit, typed (text, or float strengths), so every chunk has one schema.
        ranks = min(explain.limit, len(loaded.info.features))
        for k in range(ranks):
            for suffix, key in EXPLANATION_FIELDS:
                values = [
                    r["predictionExplanations"][k][key] if len(r["predictionExplanations"]) > k else None
                    for r in scored.rows
                ]
                if key == "strength":
                    out[f"EXPLANATION_{k + 1}_{suffix}"] = pd.Series(values, dtype="float64")
                else:
                    text = [None if v is None else str(v) for v in values]
                    out[f"EXPLANATION_{k + 1}_{suffix}"] = pd.Series(text, dtype="string")
    return out


class _Output:
    """Appends chunks to a Parquet or CSV file; the first chunk fixes the Parquet schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parquet = path.name.lower().endswith(".parquet")
        self._writer: pq.ParquetWriter | None = None
        self._wrote_header = False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp
        tmp.unlink(missing_ok=True)

    @property
    def _tmp(self) -> Path:
        return self.path.with_name(f".{self.path.name}.tmp")

    def write(self, frame: pd.DataFrame) -> None:
        if self._parquet:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._tmp, table.schema)
            else:
                table = table.cast(self._writer.schema)
            self._writer.write_table(table)
        else:
            frame.to_csv(self._tmp, mode="a", header=not self._wrote_header, index=False)
            self._wrote_header = True

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._tmp.exists():
            self._tmp.replace(self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


def batch_score(
    deployment_id: str,
    *,
    source: str | None = None,
    sql: str | None = None,
    table: str | None = None,
    connection: Any = None,
    output: str | None = None,
    passthrough_columns: list[str] | None = None,
    passthrough_all: bool = False,
    timestamp_column: str | None = None,
    prediction_column: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    settings: Settings | None = None,
    caller: str | None = None,
    max_explanations: int = 0,
    threshold_high: float | None = None,
    threshold_low: float | None = None,
) -> dict[str, Any]:
    """Score (or, for an external deployment, report) every row of a source; returns a small summary.

    ``output`` (.parquet or .csv) receives the passthrough and prediction columns,
    written to a hidden temporary name and renamed at the end, so a failed run
    leaves no partial file. ``timestamp_column`` gives each row's prediction time
    (backfills; predictions made elsewhere); default: when its chunk is scored.
    ``caller`` names who runs the batch in the log's ``caller`` column (service
    stats' ``numConsumers``); ``None`` logs no caller. ``max_explanations`` (0-100) adds
    each row's strongest explanations as columns, for rows whose prediction is above
    ``threshold_high`` or below ``threshold_low`` when either is given.
    """
    from airflow_mlops.serving.app import _load_predictor

    try:
        explain = explain_request(str(max_explanations), threshold_high, threshold_low)
    except PredictionInputError as exc:
        raise BatchScoreError(str(exc)) from exc
    cfg = settings or get_settings()
    cache = ModelCache(cfg.store_url, _load_predictor(cfg))
    try:
        loaded = cache.get(deployment_id)
    finally:
        cache.stop()
    chunks = read_chunks(source, sql=sql, table=table, connection=connection, chunk_rows=chunk_rows)
    if loaded.info.kind == "external":
        return _report_external(loaded, chunks, prediction_column, timestamp_column, cfg, caller)
    if loaded.status != "active":
        raise BatchScoreError(f"deployment {deployment_id!r} is {loaded.status}; activate it to score")

    out = _Output(Path(output)) if output else None
    rows = n_chunks = 0
    run = uuid.uuid4().hex
    started = time.perf_counter()
    writer = PredictionLogWriter(cfg.prediction_log_dir, max_rows=max(5000, chunk_rows))
    try:
        for chunk in chunks:
            chunk = chunk.reset_index(drop=True)
            t0 = time.perf_counter()
            try:
                columns = Columns.from_frame(chunk)
                stamps = parse_timestamps(columns, timestamp_column, datetime.now(UTC))
                scored = score_frame(
                    loaded,
                    columns,
                    passthrough=passthrough_columns,
                    passthrough_set="all" if passthrough_all else None,
                )
                if explain is not None:
                    explain_rows(loaded, scored.features, scored.rows, explain)
            except PredictionInputError as exc:
                raise BatchScoreError(_renumber(str(exc), rows)) from exc
            latency_ms = (time.perf_counter() - t0) * 1000.0
            writer.append_batch(
                deployment_id,
                log_batch(
                    loaded, scored, stamps, latency_ms, request_id=f"batch-{run}-{n_chunks}", caller=caller
                ),
            )
            if out is not None:
                extra = (
                    [str(c) for c in chunk.columns]
                    if passthrough_all
                    else list(dict.fromkeys(passthrough_columns or []))
                )
                out.write(_output_frame(loaded, chunk, scored, extra, explain))
            rows += len(chunk)
            n_chunks += 1
        if out is not None:
            out.commit()
    except BaseException:
        if out is not None:
            out.abort()
        raise
    finally:
        writer.close()  # rows of scored chunks are logged even when a later chunk fails
    return {
        "deployment_id": deployment_id,
        "model_id": loaded.info.ref.id,
        "rows": rows,
        "chunks": n_chunks,
        "output": str(output) if output else None,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _report_external(
    loaded: LoadedModel,
    chunks: Iterator[pd.DataFrame],
    prediction_column: str | None,
    timestamp_column: str | None,
    cfg: Settings,
    caller: str | None,
) -> dict[str, Any]:
    from airflow_mlops.serving.reporting import report_predictions

    if prediction_column is None:
        raise BatchScoreError(
            f"deployment {loaded.deployment_id!r} serves external model {loaded.info.ref.id!r}: its predictions "
            "are made elsewhere; name the column holding them with prediction_column"
        )
    names = loaded.settings["association_id"]["column_names"]
    rows = n_chunks = 0
    for chunk in chunks:
        assoc = names[0] if names and names[0] in chunk.columns else None
        try:
            rows += report_predictions(
                loaded.deployment_id,
                chunk.reset_index(drop=True),
                prediction_column=prediction_column,
                timestamp_column=timestamp_column,
                association_id_column=assoc,
                settings=cfg,
                caller=caller,
            )
        except ValueError as exc:
            raise BatchScoreError(_renumber(str(exc), rows)) from exc
        n_chunks += 1
    return {
        "deployment_id": loaded.deployment_id,
        "model_id": loaded.info.ref.id,
        "rows": rows,
        "chunks": n_chunks,
        "output": None,
        "reported": True,
    }
