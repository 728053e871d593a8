"""The quarantine file: rejected and quarantined rows kept as text, each saying where it came from and why.

Values are kept as the source's text (not the column's type) because a row is
often quarantined precisely for a value that does not read as that type.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from airflow_mlops.datasets.schema import to_strings
from airflow_mlops.datasets.sources import Rejected


class QuarantineWriter:
    """Quarantined rows as text, each with its source row number, check, column and reason."""

    META_COLUMNS = ("_row", "_check", "_column", "_reason", "_raw")

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = [c for c in columns if c not in self.META_COLUMNS]
        self.schema = pa.schema(
            [
                pa.field("_row", pa.int64()),
                pa.field("_check", pa.string()),
                pa.field("_column", pa.string()),
                pa.field("_reason", pa.string()),
                pa.field("_raw", pa.string()),
                *[pa.field(c, pa.string()) for c in self.columns],
            ]
        )
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self.digest_parts: list[pa.Table] = []

    def _write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows
        self.digest_parts.append(table)

    def write_rows(
        self,
        raw: pa.Table,
        indices: npt.NDArray[np.int64],
        rows: npt.NDArray[np.int64],
        reasons: dict[int, list[tuple[str, str | None, str]]],
    ) -> None:
        take = pa.array(indices)
        data: dict[str, pa.Array] = {
            "_row": pa.array(rows[indices], type=pa.int64()),
            "_check": pa.array(
                [",".join(dict.fromkeys(r[0] for r in reasons[i])) for i in indices], pa.string()
            ),
            "_column": pa.array(
                [",".join(dict.fromkeys(r[1] for r in reasons[i] if r[1])) or None for i in indices],
                pa.string(),
            ),
            "_reason": pa.array(["; ".join(r[2] for r in reasons[i]) for i in indices], pa.string()),
            "_raw": pa.nulls(len(indices), type=pa.string()),
        }
        for name in self.columns:
            if name in raw.column_names:
                data[name] = to_strings(raw.column(name).combine_chunks().take(take))
            else:
                data[name] = pa.nulls(len(indices), type=pa.string())
        self._write(pa.table(data, schema=self.schema))

    def write_rejected(self, rejected: Sequence[Rejected]) -> None:
        n = len(rejected)
        data: dict[str, pa.Array] = {
            "_row": pa.array([r.row for r in rejected], type=pa.int64()),
            "_check": pa.array(["malformed_row"] * n, pa.string()),
            "_column": pa.nulls(n, type=pa.string()),
            "_reason": pa.array([f"row {r.reason}" for r in rejected], pa.string()),
            "_raw": pa.array([r.text for r in rejected], pa.string()),
        }
        for name in self.columns:
            data[name] = pa.nulls(n, type=pa.string())
        self._write(pa.table(data, schema=self.schema))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
