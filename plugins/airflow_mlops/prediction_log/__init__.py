"""The prediction log: every scored row, kept as append-only Parquet files.

Monitoring (drift, accuracy once actuals arrive, service health) and retraining
all read what the serving layer wrote, so the log is the contract between them.
Its design follows from who uses it:

* **The request path must stay fast.** :meth:`PredictionLogWriter.append_batch`
  takes a request's rows as columns (the checked feature frame, the model's
  output array, scalars for what every row shares), checks them in a few
  vectorised steps and buffers references; nothing is converted per row until a
  flush turns whole columns into Arrow at once. :meth:`~PredictionLogWriter.append`
  takes row dicts for callers that have rows (reporting external predictions,
  tests). Files are written when the buffer reaches ``max_rows``,
  when its oldest row has waited ``max_delay_s`` (a daemon thread watches), on
  :meth:`~PredictionLogWriter.flush` and on :meth:`~PredictionLogWriter.close`.
* **Readers run concurrently with writers** (an Airflow monitoring task while
  the server scores). Files are never modified: each flush writes new files to
  a hidden temporary name (``.part-...tmp``) in the target directory and renames
  them, so a reader sees a whole file or none. Readers skip names starting with
  ``.``. The root may also be an fsspec URL (``s3://bucket/predictions``, see
  :mod:`airflow_mlops.storage`) so every host reads what every server wrote;
  there each file is one PUT of its final key, which readers likewise see whole
  or not at all.
* **Monitoring asks "deployment X, hours A..B"**, so files are partitioned
  Hive-style by deployment and by the *UTC hour of each row's timestamp*::

      <root>/deployment=<id>/hour=YYYYMMDDTHH/part-<flush time>-<uuid>.parquet

  ``<flush time>`` is ``YYYYMMDDTHHMMSSffffffZ`` so names sort by write time.
  Before each file, the writer drops an empty marker in ``deployment=<id>/_inbox/``
  (:mod:`~airflow_mlops.prediction_log.inbox`): what the monitoring fold lists
  instead of every hour. Closed hours are later compacted into one
  ``part-<time>Z-compacted-<uuid>.parquet`` file and may be deleted past a
  retention (``monitoring/compaction.py``, ``monitoring/retention.py``); readers
  see the same rows either way.
* **Rows must not vanish.** If writing fails (full disk, permissions), the rows
  stay buffered, in order, ahead of newer ones, the error is logged, and the
  next flush retries. Only groups that failed are retried, so nothing is written
  twice. The server bounds that backlog (``max_pending_rows``): past it, it
  refuses new predictions before scoring them (see :mod:`.writer`).

Columns of each file: ``timestamp`` (UTC, microseconds), ``association_id``,
``model_version``, ``prediction``, ``status_code``, ``latency_ms``, ``row_id``,
any extra scalar keys the caller passed, and one ``f.<name>`` column per
feature (the prefix keeps a feature called ``prediction`` from colliding with
the log's own columns). Extras the serving layer writes for service stats:
``request_id``, ``caller``, ``cache_hit`` and ``execution_ms`` (see
:mod:`.layout`: :data:`REQUEST_ID_COLUMN` and the three after it); each holds
one value per request, given once per request (a ``Same`` column), so they cost
the request path nothing per row. ``data_collected`` and
``prediction_warning`` are the other extras the server writes. Column types are inferred per file: all-bool stays
bool, all-int int64, ints and floats float64, all-str string; anything else
(mixed kinds, dicts, lists) is stored as strings made by one function,
:func:`stringify`, so equal values always give equal strings.
:func:`read_log_files` applies the same rule when files disagree on a column's
type. The deployment id is not stored in the files (it is in the path);
:func:`read_log_files` adds it back as a ``deployment_id`` column.
"""

from __future__ import annotations

from airflow_mlops.prediction_log.arrow import stringify
from airflow_mlops.prediction_log.chunks import PredictionBatch, object_array
from airflow_mlops.prediction_log.inbox import (
    INBOX_DIR,
    InboxEntry,
    announce_log_file,
    list_inbox,
    remove_markers,
)
from airflow_mlops.prediction_log.layout import (
    CACHE_HIT_COLUMN,
    CALLER_COLUMN,
    COMPACTED_TAG,
    CORE_COLUMNS,
    EXECUTION_COLUMN,
    FEATURE_PREFIX,
    REQUEST_ID_COLUMN,
    REQUIRED_KEYS,
    WARNING_COLUMN,
    delete_log_files,
    hour_key,
    hour_of_key,
    is_compacted_name,
    list_hour_files,
    list_log_files,
)
from airflow_mlops.prediction_log.reading import feature_frame, read_log_files
from airflow_mlops.prediction_log.writer import PredictionLogUnavailable, PredictionLogWriter, WriterEvents

__all__ = [
    "CACHE_HIT_COLUMN",
    "CALLER_COLUMN",
    "COMPACTED_TAG",
    "CORE_COLUMNS",
    "EXECUTION_COLUMN",
    "FEATURE_PREFIX",
    "INBOX_DIR",
    "REQUEST_ID_COLUMN",
    "REQUIRED_KEYS",
    "WARNING_COLUMN",
    "InboxEntry",
    "PredictionBatch",
    "PredictionLogUnavailable",
    "PredictionLogWriter",
    "WriterEvents",
    "announce_log_file",
    "delete_log_files",
    "feature_frame",
    "hour_key",
    "hour_of_key",
    "is_compacted_name",
    "list_hour_files",
    "list_inbox",
    "list_log_files",
    "object_array",
    "read_log_files",
    "remove_markers",
    "stringify",
]
