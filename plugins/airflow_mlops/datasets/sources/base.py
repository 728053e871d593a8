"""What every reader yields: :class:`Chunk` s of Arrow rows numbered as in the source.

A chunk carries the source's own row numbers for its rows (so an error says
"data row 70 001", not "row 3 of chunk 2") and the rows the reader could not
even split into columns (ragged CSV rows, broken JSON lines), which the checks
then fail on or quarantine. The helpers here turn Python values into Arrow
columns for the readers that get values rather than text (JSON, Excel, SQL).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from airflow_mlops.datasets.errors import DataValidationError

DEFAULT_CHUNK_ROWS = 65_536
#: What pandas' ``read_csv`` reads as missing; kept identical so nothing changes for users.
NA_VALUES: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


@dataclass(frozen=True)
class Rejected:
    """A row the reader could not turn into columns, with its raw text and why."""

    row: int | None
    text: str
    reason: str


@dataclass
class Chunk:
    """Consecutive rows of a source: the table, their row numbers, and rows rejected meanwhile."""

    table: pa.Table
    rows: npt.NDArray[np.int64]
    rejected: list[Rejected] = field(default_factory=list)


class Source(ABC):
    """A readable source of rows. ``label`` names it in every message."""

    format: ClassVar[str]
    #: How the source's row numbers read in messages ("data row 12", "line 12", ...).
    row_word: ClassVar[str] = "data row"

    label: str

    @abstractmethod
    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        """The rows, chunk by chunk; columns in source order, the same in every chunk."""

    def fingerprint(self) -> str | None:
        """A digest of the raw content read in a cheap pre-pass, or None if there is none (SQL)."""
        return None

    def describe(self) -> dict[str, Any]:
        """What to record in ``meta.json`` about the source."""
        return {"format": self.format, "source": self.label}

    def progress(self) -> float | None:
        """The share of the source read so far, when known."""
        return None

    def error(self, message: str, **where: Any) -> DataValidationError:
        return DataValidationError(f"{self.label}: {message}", source=self.label, **where)


def rows_text(word: str, rows: Sequence[int] | npt.NDArray[np.int64], limit: int = 5) -> str:
    """``data row 3`` / ``data rows 3, 9, 12 and 40 more``: human row references for messages."""
    numbers = [int(r) for r in rows]
    shown = ", ".join(str(n) for n in numbers[:limit])
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"{word}{'s' if len(numbers) > 1 else ''} {shown}{more}"


def drain(items: list[Rejected]) -> list[Rejected]:
    """The rejected rows gathered so far, handed to a chunk; the list is emptied for the next one."""
    out = list(items)
    items.clear()
    return out


def records_to_table(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pa.Table:
    """Rows given as mappings become a table; a column Arrow cannot type uniformly becomes strings."""
    return pa.table({name: to_arrow([record.get(name) for record in records]) for name in columns})


def to_arrow(values: Sequence[Any], na_values: frozenset[str] | None = None) -> pa.Array:
    """Python values as an Arrow array: typed when they agree, as strings when they mix types."""
    if na_values:
        values = [None if isinstance(v, str) and v in na_values else v for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        return pa.array(
            [None if v is None else v if isinstance(v, str) else _text(v) for v in values], type=pa.string()
        )


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
