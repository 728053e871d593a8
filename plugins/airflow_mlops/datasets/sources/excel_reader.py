"""Excel ``.xlsx`` through openpyxl's streaming (read-only) mode, one sheet chosen by name or index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from airflow_mlops.datasets.sources.base import (
    DEFAULT_CHUNK_ROWS,
    NA_VALUES,
    Chunk,
    Rejected,
    drain,
    to_arrow,
)
from airflow_mlops.datasets.sources.files import FileSource
from airflow_mlops.datasets.sources.registry import register_format


@register_format
class ExcelSource(FileSource):
    """Excel ``.xlsx`` through openpyxl's streaming (read-only) mode; ``sheet`` by name or 0-based index."""

    format = "xlsx"
    extensions = (".xlsx", ".xlsm")
    option_names = ("sheet",)
    row_word = "sheet row"

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        import openpyxl  # imported here: only Excel ingestion needs it
        from openpyxl.utils.exceptions import InvalidFileException

        with self.fs.open(self.path, "rb") as handle:
            try:
                book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
            except (InvalidFileException, OSError, KeyError, ValueError) as exc:
                raise self.error(
                    f"is not a readable .xlsx workbook ({exc}); expected an Excel .xlsx file"
                ) from exc
            try:
                yield from self._sheet_chunks(book, chunk_rows)
            finally:
                book.close()

    def _sheet_chunks(self, book: Any, chunk_rows: int) -> Iterator[Chunk]:
        sheet_option = self.options.get("sheet", 0)
        names = list(book.sheetnames)
        if (
            isinstance(sheet_option, int)
            and not isinstance(sheet_option, bool)
            and 0 <= sheet_option < len(names)
        ):
            sheet = book[names[sheet_option]]
        elif isinstance(sheet_option, str) and sheet_option in names:
            sheet = book[sheet_option]
        else:
            raise self.error(f"has no sheet {sheet_option!r}; sheets found: {names} (or a 0-based index)")
        na = frozenset(NA_VALUES)
        header: list[str] | None = None
        batch: list[tuple[Any, ...]] = []
        numbers: list[int] = []
        rejected: list[Rejected] = []
        numbers_seen = 0
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if not any(v is not None and (not isinstance(v, str) or v.strip()) for v in row):
                continue
            if header is None:
                header = self._header([v for v in row], number)
                continue
            if len(row) > len(header) and any(v is not None for v in row[len(header) :]):
                rejected.append(
                    Rejected(
                        number,
                        ",".join("" if v is None else str(v) for v in row),
                        f"has values beyond the header's {len(header)} columns",
                    )
                )
                continue
            batch.append(tuple(row[: len(header)]) + (None,) * (len(header) - len(row)))
            numbers.append(number)
            numbers_seen += 1
            if len(batch) >= chunk_rows:
                yield self._chunk(header, batch, numbers, rejected, na)
                batch, numbers = [], []
        if header is None:
            raise self.error(
                f"sheet {sheet.title!r} is empty; expected a header row and data rows", check="empty"
            )
        if batch or rejected or not numbers_seen:
            yield self._chunk(header, batch, numbers, rejected, na)

    def _header(self, cells: list[Any], number: int) -> list[str]:
        while cells and cells[-1] is None:
            cells.pop()
        names = ["" if v is None else str(v).strip() for v in cells]
        blank = [i + 1 for i, name in enumerate(names) if not name]
        if blank:
            raise self.error(
                f"header (sheet row {number}) has unnamed column(s) at position(s) {blank}; expected every "
                "column to have a name",
                check="header",
            )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise self.error(
                f"duplicate column names in header (sheet row {number}): {duplicates}; expected unique names",
                check="header",
                column=duplicates[0],
            )
        return names

    def _chunk(
        self,
        header: list[str],
        batch: list[tuple[Any, ...]],
        numbers: list[int],
        rejected: list[Rejected],
        na: frozenset[str],
    ) -> Chunk:
        columns = list(zip(*batch, strict=True)) if batch else [() for _ in header]
        table = pa.table(
            {name: to_arrow(list(values), na) for name, values in zip(header, columns, strict=True)}
        )
        return Chunk(table, np.asarray(numbers, dtype=np.int64), drain(rejected))
