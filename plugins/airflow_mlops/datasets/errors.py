"""The errors ingestion raises, each carrying where the problem is as well as a message.

People read these in an Airflow task log, so every message names the source
(file, URL or masked database URL and query), the rows and the column involved
and what was expected. Tests and callers that want to react programmatically
read the same facts from attributes instead of parsing the text.
"""

from __future__ import annotations

from collections.abc import Sequence


class DataValidationError(ValueError):
    """The input cannot become a snapshot; the message says where and why.

    ``source`` is what was being read, ``check`` the name of the failed check
    (e.g. ``"null"``, ``"missing_column"``; ``None`` for input that cannot be
    read at all), ``column`` the column and ``rows`` the 1-based data rows
    (header excluded) involved, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        check: str | None = None,
        column: str | None = None,
        rows: Sequence[int] = (),
    ) -> None:
        super().__init__(message)
        self.source = source
        self.check = check
        self.column = column
        self.rows = tuple(int(r) for r in rows)


class SourceError(DataValidationError):
    """The source cannot be opened or read: missing, outside the allowed roots, a failing query."""


class ContractError(ValueError):
    """A contract (hand-written YAML or stored) is malformed; the message names the file and field."""


class SnapshotNotFoundError(FileNotFoundError):
    """The requested dataset or version does not exist; the message lists what does."""
