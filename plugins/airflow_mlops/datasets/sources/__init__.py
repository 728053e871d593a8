"""Where data comes from: a registry of readers by format, each yielding Arrow chunks.

Every reader turns one source into a stream of :class:`Chunk` s (:mod:`.base`),
each a ``pyarrow.Table`` of at most a few tens of thousands of rows plus the
source's own row numbers for them and the rows it could not split into
columns. Nothing reads a whole source into memory.

One module per part: :mod:`.base` (what a reader yields), :mod:`.files` (a
file through fsspec), :mod:`.registry` (readers by format, :func:`open_source`),
and one module per format: :mod:`.csv_reader`, :mod:`.parquet_reader`,
:mod:`.json_readers` (JSON and JSON Lines), :mod:`.excel_reader`. SQL sources
live in :mod:`airflow_mlops.datasets.sql`. Add a format with
:func:`register_format`; importing this package registers the built-in ones.
"""

from __future__ import annotations

from airflow_mlops.datasets.sources.base import (
    DEFAULT_CHUNK_ROWS,
    NA_VALUES,
    Chunk,
    Rejected,
    Source,
    records_to_table,
    rows_text,
    to_arrow,
)
from airflow_mlops.datasets.sources.files import FileSource, ReadAheadGate
from airflow_mlops.datasets.sources.registry import (
    COMPRESSIONS,
    EXTENSIONS,
    FORMATS,
    open_source,
    register_format,
)

# The built-in readers register themselves on import, in this order (FORMATS lists them so).
# isort: off
from airflow_mlops.datasets.sources.csv_reader import DELIMITERS, CsvSource
from airflow_mlops.datasets.sources.parquet_reader import ParquetSource
from airflow_mlops.datasets.sources.json_readers import JsonLinesSource, JsonSource
from airflow_mlops.datasets.sources.excel_reader import ExcelSource

# isort: on

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_CHUNK_ROWS",
    "DELIMITERS",
    "EXTENSIONS",
    "FORMATS",
    "NA_VALUES",
    "Chunk",
    "CsvSource",
    "ExcelSource",
    "FileSource",
    "JsonLinesSource",
    "JsonSource",
    "ParquetSource",
    "ReadAheadGate",
    "Rejected",
    "Source",
    "open_source",
    "records_to_table",
    "register_format",
    "rows_text",
    "to_arrow",
]
