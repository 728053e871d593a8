"""Reading the log: whole files into one frame with one type per column, whatever each file inferred."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

from airflow_mlops.prediction_log.arrow import is_null, stringify, value_kind
from airflow_mlops.prediction_log.layout import CORE_COLUMNS, FEATURE_PREFIX, deployment_of
from airflow_mlops.storage import StoragePath, as_storage_path, parquet_file


def read_log_files(paths: Iterable[StoragePath | str | os.PathLike[str]]) -> pd.DataFrame:
    """Load log files into one frame, ordered by ``timestamp``.

    Features stay as ``f.<name>`` columns (use :func:`feature_frame` for the
    original names); ``deployment_id`` comes from each file's path. Paths are
    local or on an fsspec filesystem, as :func:`list_log_files` returns them.
    """
    frames: list[pd.DataFrame] = []
    for path in paths:
        location = as_storage_path(path)
        frame = parquet_file(location).read().to_pandas()
        frame.insert(0, "deployment_id", deployment_of(location))
        frames.append(frame)
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in ("deployment_id", *CORE_COLUMNS)})
    combined = pd.concat(frames, ignore_index=True, sort=False)
    leading = ["deployment_id", *CORE_COLUMNS]
    extras = sorted(c for c in combined.columns if c not in leading and not c.startswith(FEATURE_PREFIX))
    features = sorted(c for c in combined.columns if c.startswith(FEATURE_PREFIX))
    combined = combined[[*leading, *extras, *features]]
    for name in ["prediction", *extras, *features]:
        combined[name] = _unify(combined[name])
    return combined.sort_values("timestamp", kind="stable").reset_index(drop=True)


def feature_frame(log: pd.DataFrame) -> pd.DataFrame:
    """The features of a :func:`read_log_files` frame under their original names."""
    columns = [c for c in log.columns if c.startswith(FEATURE_PREFIX)]
    return log[columns].rename(columns=lambda c: c[len(FEATURE_PREFIX) :])


def _unify(column: pd.Series) -> pd.Series:
    """Re-apply the per-column typing rule when files disagreed about a column's type."""
    if column.dtype != object:
        return column
    kinds = {value_kind(v) for v in column if not is_null(v)}
    mixed = len(kinds) > 1 and not kinds <= {"int", "float"}
    # Files lacking the column contribute NaN; make every missing value None.
    return column.map(lambda v: None if is_null(v) else stringify(v) if mixed else v).astype(object)
