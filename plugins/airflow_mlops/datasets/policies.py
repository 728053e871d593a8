"""What each policy does with a violation: fail, warn, or quarantine the rows.

:class:`Enforcer` receives the rows that break a check (:mod:`.checks`) and
applies the check's policy:

* ``fail``: raise :class:`DataValidationError` naming the source, the rows,
  the column, example values and what was expected. Nothing is written.
* ``warn``: keep the rows, log a warning once per check and column, and count
  them (with the first row numbers and examples) for ``meta.json``.
* ``quarantine``: drop the rows from the snapshot and write them to
  ``quarantine.parquet`` (:mod:`.quarantine`) with the source row number, the
  check, the column and a reason per row, values kept as the source's text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from airflow_mlops.datasets.checks import Mask, Violation
from airflow_mlops.datasets.contract import Contract, Policy
from airflow_mlops.datasets.errors import DataValidationError
from airflow_mlops.datasets.quarantine import QuarantineWriter
from airflow_mlops.datasets.sources import Rejected, Source, rows_text

log = logging.getLogger("airflow_mlops.datasets")

_EXAMPLES = 3
_RECORDED_ROWS = 10


@dataclass
class _Record:
    check: str
    column: str | None
    policy: Policy
    count: int = 0
    rows: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    message: str = ""


class Enforcer:
    """Applies each check's policy; records warnings and quarantined rows."""

    def __init__(
        self, source: Source, contract: Contract, quarantine_path: Path, columns: Sequence[str]
    ) -> None:
        self.source = source
        self.contract = contract
        self._records: dict[tuple[str, str | None, Policy], _Record] = {}
        self.quarantine = QuarantineWriter(quarantine_path, columns)

    def policy(self, check: str) -> Policy:
        return self.contract.policy_for(check)

    # --- dataset-level -------------------------------------------------------------------------

    def dataset_issue(self, check: str, column: str | None, message: str) -> bool:
        """A whole-column or whole-dataset violation: raise on ``fail``, else warn; True if warned."""
        full = f"{self.source.label}: {message} [check {check!r}, contract: {self.contract.describe()}]"
        if self.policy(check) == "fail":
            raise DataValidationError(full, source=self.source.label, check=check, column=column)
        record = self._record(check, column, "warn")
        record.message = message
        log.warning("%s (policy: warn)", full)
        return True

    # --- row-level -----------------------------------------------------------------------------

    def rejected(self, rejected: Sequence[Rejected]) -> None:
        """Rows the reader could not split into columns (check ``malformed_row``)."""
        if not rejected:
            return
        word = self.source.row_word
        policy = self.policy("malformed_row")
        first = rejected[0]
        where = f"{word} {first.row}" if first.row is not None else f"a {word}"
        message = f"{where} {first.reason}: {first.text[:200]!r}"
        if policy == "fail":
            more = (
                f" ({len(rejected) - 1} more such rows in this part of the source)"
                if len(rejected) > 1
                else ""
            )
            raise DataValidationError(
                f"{self.source.label}: {message}{more} [check 'malformed_row']",
                source=self.source.label,
                check="malformed_row",
                rows=[r.row for r in rejected if r.row is not None],
            )
        record = self._record("malformed_row", None, policy)
        for item in rejected:
            self._note(record, item.row, item.text[:200])
        if record.count == len(rejected):
            log.warning("%s: %s (policy: %s)", self.source.label, message, policy)
        if policy == "quarantine":
            self.quarantine.write_rejected(rejected)

    def apply(self, violations: Sequence[Violation], raw: pa.Table, rows: npt.NDArray[np.int64]) -> Mask:
        """Apply the policies of ``violations`` to one chunk; returns the rows to keep."""
        keep = np.ones(raw.num_rows, dtype=bool)
        reasons: dict[int, list[tuple[str, str | None, str]]] = {}
        quarantined = np.zeros(raw.num_rows, dtype=bool)
        for violation in violations:
            flagged = np.flatnonzero(violation.mask)
            if len(flagged) == 0:
                continue
            examples = self._examples(raw, violation.column, flagged)
            policy = self.policy(violation.check)
            if policy == "fail":
                raise self._error(violation, rows[flagged], examples)
            record = self._record(violation.check, violation.column, policy)
            first_time = record.count == 0
            for position, index in enumerate(flagged[:_RECORDED_ROWS]):
                self._note(record, int(rows[index]), examples[position] if position < len(examples) else None)
            record.count += max(len(flagged) - _RECORDED_ROWS, 0)
            if first_time:
                log.warning("%s (policy: %s)", self._message(violation, rows[flagged], examples), policy)
            if policy == "quarantine":
                quarantined[flagged] = True
                keep[flagged] = False
                for position, index in enumerate(flagged):
                    reason = (
                        violation.row_reasons[position]
                        if violation.row_reasons is not None
                        else self._row_reason(violation, raw, int(index))
                    )
                    reasons.setdefault(int(index), []).append((violation.check, violation.column, reason))
        if quarantined.any():
            self.quarantine.write_rows(raw, np.flatnonzero(quarantined), rows, reasons)
        return keep

    def _row_reason(self, violation: Violation, raw: pa.Table, index: int) -> str:
        value = raw.column(violation.column)[index].as_py() if violation.column in raw.column_names else None
        subject = f"column {violation.column!r}" if violation.column else "row"
        return f"{subject} {violation.problem} ({value!r}); expected {violation.expected}"

    def _examples(self, raw: pa.Table, column: str | None, flagged: npt.NDArray[np.int64]) -> list[str]:
        if column is None or column not in raw.column_names:
            return []
        values = raw.column(column).take(pa.array(flagged[:_RECORDED_ROWS])).to_pylist()
        return ["null" if v is None else str(v) for v in values]

    def _message(self, violation: Violation, rows: npt.NDArray[np.int64], examples: list[str]) -> str:
        distinct = list(dict.fromkeys(e for e in examples))[:_EXAMPLES]
        shown = (
            f" (e.g. {', '.join(repr(e) for e in distinct)})"
            if distinct and violation.check != "null"
            else ""
        )
        subject = f"column {violation.column!r} " if violation.column else ""
        return (
            f"{self.source.label}: {subject}{violation.problem} in {rows_text(self.source.row_word, rows)}"
            f"{shown}; expected {violation.expected}{violation.hint} [check {violation.check!r}, "
            f"contract: {self.contract.describe()}]"
        )

    def _error(
        self, violation: Violation, rows: npt.NDArray[np.int64], examples: list[str]
    ) -> DataValidationError:
        return DataValidationError(
            self._message(violation, rows, examples),
            source=self.source.label,
            check=violation.check,
            column=violation.column,
            rows=[int(r) for r in rows[:_RECORDED_ROWS]],
        )

    def _record(self, check: str, column: str | None, policy: Policy) -> _Record:
        key = (check, column, policy)
        if key not in self._records:
            self._records[key] = _Record(check, column, policy)
        return self._records[key]

    @staticmethod
    def _note(record: _Record, row: int | None, example: str | None) -> None:
        record.count += 1
        if row is not None and len(record.rows) < _RECORDED_ROWS:
            record.rows.append(row)
        if example is not None and len(record.examples) < _EXAMPLES and example not in record.examples:
            record.examples.append(example)

    def issues(self) -> list[dict[str, Any]]:
        """What was warned about or quarantined, for ``meta.json``."""
        return [
            {
                "check": r.check,
                "column": r.column,
                "policy": r.policy,
                "count": r.count if not r.message else None,
                "rows": r.rows,
                "examples": r.examples,
                **({"message": r.message} if r.message else {}),
            }
            for r in self._records.values()
        ]
