"""Parquet, read row group by row group in batches; types come from the file."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from airflow_mlops.datasets.sources.base import DEFAULT_CHUNK_ROWS, Chunk
from airflow_mlops.datasets.sources.files import FileSource
from airflow_mlops.datasets.sources.registry import register_format


@register_format
class ParquetSource(FileSource):
    """Parquet, read row group by row group in batches."""

    format = "parquet"
    extensions = (".parquet", ".pq")
    row_word = "row"

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        with self.fs.open(self.path, "rb") as handle:
            try:
                parquet = pq.ParquetFile(handle)
            except (pa.ArrowInvalid, OSError) as exc:
                raise self.error(f"is not a readable Parquet file ({exc}); expected a Parquet file") from exc
            names = parquet.schema_arrow.names
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise self.error(
                    f"duplicate column names {duplicates}; expected unique names", check="header"
                )
            done = 0
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                rows = np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64)
                done += batch.num_rows
                self._read = int(self._size or 0) * done // max(parquet.metadata.num_rows, 1)
                yield Chunk(pa.Table.from_batches([batch]), rows)
