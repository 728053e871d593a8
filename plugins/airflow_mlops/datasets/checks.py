"""Checks on incoming rows and columns, and what each policy does with a violation.

Checks run chunk by chunk on rows already read as their column's type
(:mod:`.schema`); each finds the rows that break one rule (see
:data:`~airflow_mlops.datasets.contract.CHECKS`) and hands them to
:class:`Enforcer`, which applies the check's policy:

* ``fail``: raise :class:`DataValidationError` naming the source, the rows,
  the column, example values and what was expected. Nothing is written.
* ``warn``: keep the rows, log a warning once per check and column, and count
  them (with the first row numbers and examples) for ``meta.json``.
* ``quarantine``: drop the rows from the snapshot and write them to
  ``quarantine.parquet`` with the source row number, the check, the column and
  a reason per row, values kept as the source's text.

Duplicate keys are found with bounded memory: :class:`KeyIndex` keeps only a
64-bit hash and the first row number per key (16 bytes a row, 80 MB for 5
million rows) in sorted runs merged geometrically, so a lookup is a few binary
searches. Two different keys with the same 64-bit hash would be reported as
duplicates; with 5 million keys the chance of that is below one in a million.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from airflow_mlops.datasets.contract import Contract, Policy, class_label
from airflow_mlops.datasets.errors import DataValidationError
from airflow_mlops.datasets.hashing import U64
from airflow_mlops.datasets.schema import Coerced, ColumnType, to_strings
from airflow_mlops.datasets.sources import Rejected, Source, rows_text

log = logging.getLogger("airflow_mlops.datasets")

Mask = npt.NDArray[np.bool_]
Role = Literal["target", "key", "time", "feature"]
_EXAMPLES = 3
_RECORDED_ROWS = 10


@dataclass(frozen=True)
class ColumnPlan:
    """How one column of this ingestion is read and checked."""

    name: str
    type: ColumnType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    values: frozenset[str] | None = None
    roles: frozenset[Role] = frozenset({"feature"})

    def null_reason(self) -> str:
        if "target" in self.roles:
            return "a label in every row (it is the target)"
        if "key" in self.roles:
            return "a value in every row (it is part of the key)"
        if "time" in self.roles:
            return "a timestamp in every row (it is the time column)"
        return "a value in every row (the contract says nullable: false)"


@dataclass
class Violation:
    """Rows of one chunk that break one check on one column."""

    check: str
    column: str | None
    mask: Mask
    problem: str  # e.g. "has values below the minimum 0"
    expected: str
    hint: str = ""
    row_reasons: list[str] | None = None  # per flagged row, when rows differ (e.g. duplicate keys)


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


class KeyIndex:
    """Which key hashes were seen, and in which row first; sorted runs merged geometrically."""

    def __init__(self) -> None:
        self._runs: list[tuple[U64, npt.NDArray[np.int64]]] = []
        self.size = 0

    @property
    def nbytes(self) -> int:
        """Memory held by the index: 16 bytes a key (hash and first row)."""
        return sum(keys.nbytes + rows.nbytes for keys, rows in self._runs)

    def first_rows(self, hashes: U64) -> npt.NDArray[np.int64]:
        """For each hash, the row it was first seen in, or -1."""
        order = np.argsort(hashes)
        found = np.empty(len(hashes), dtype=np.int64)
        found[order] = self.first_rows_sorted(hashes[order])
        return found

    def first_rows_sorted(self, probes: U64) -> npt.NDArray[np.int64]:
        """:meth:`first_rows` for sorted ``probes``.

        Sorted probes walk each run in order (numpy narrows each search by the
        previous one): an order of magnitude faster than random probes into
        millions of keys.
        """
        found = np.full(len(probes), -1, dtype=np.int64)
        for keys, rows in self._runs:
            index = np.searchsorted(keys, probes)
            inside = index < len(keys)
            hit = np.zeros(len(probes), dtype=bool)
            hit[inside] = keys[index[inside]] == probes[inside]
            found[hit] = rows[index[hit]]
        return found

    def add(self, hashes: U64, rows: npt.NDArray[np.int64]) -> None:
        """Add hashes not seen before (unique among themselves) with their row numbers."""
        order = np.argsort(hashes)
        self.add_sorted(hashes[order], rows[order])

    def add_sorted(self, hashes: U64, rows: npt.NDArray[np.int64]) -> None:
        """:meth:`add` for hashes already sorted."""
        if len(hashes) == 0:
            return
        self._runs.append((hashes, rows))
        self.size += len(hashes)
        # A binary counter of runs: at most log2(keys / chunk) runs, each key merged that many times.
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= len(self._runs[-1][0]):
            (k1, r1), (k2, r2) = self._runs.pop(-2), self._runs.pop(-1)
            self._runs.append(_merge(k1, r1, k2, r2))


def _merge(
    k1: U64, r1: npt.NDArray[np.int64], k2: U64, r2: npt.NDArray[np.int64]
) -> tuple[U64, npt.NDArray[np.int64]]:
    """Merge two sorted runs in linear time and little extra memory (no sort of the whole)."""
    n = len(k1) + len(k2)
    into = np.searchsorted(k1, k2, side="right") + np.arange(len(k2))
    from_second = np.zeros(n, dtype=bool)
    from_second[into] = True
    keys = np.empty(n, dtype=np.uint64)
    rows = np.empty(n, dtype=np.int64)
    keys[from_second], rows[from_second] = k2, r2
    keys[~from_second], rows[~from_second] = k1, r1
    return keys, rows


def duplicate_keys(
    index: KeyIndex, hashes: U64, rows: npt.NDArray[np.int64], candidates: Mask
) -> tuple[Mask, npt.NDArray[np.int64]]:
    """Rows among ``candidates`` whose key was seen before (in the index or earlier in the chunk).

    Returns the duplicate mask and, per duplicate, the row where the key first
    appeared; adds the new keys to ``index``. One sort of the chunk's hashes
    serves the lookup, the in-chunk repeats and the insertion.
    """
    n = len(hashes)
    duplicate = np.zeros(n, dtype=bool)
    first_row = np.full(n, -1, dtype=np.int64)
    positions = np.flatnonzero(candidates)
    if len(positions) == 0:
        return duplicate, first_row[duplicate]
    order = np.argsort(hashes[positions], kind="stable")  # equal keys stay in row order
    ordered = positions[order]
    keys, key_rows = hashes[ordered], rows[ordered]
    earlier = index.first_rows_sorted(keys)
    group_first = np.r_[True, keys[1:] != keys[:-1]]
    group_start = np.maximum.accumulate(np.where(group_first, np.arange(len(keys)), 0))
    is_dup = (earlier >= 0) | ~group_first
    duplicate[ordered] = is_dup
    first_row[ordered] = np.where(earlier >= 0, earlier, key_rows[group_start])
    new = ~is_dup
    index.add_sorted(keys[new], key_rows[new])
    return duplicate, first_row[duplicate]


def row_violations(
    plans: Sequence[ColumnPlan],
    coerced: dict[str, Coerced],
    *,
    classes: frozenset[str] | None,
    target: str,
    source: Source,
) -> list[Violation]:
    """Every row-level violation in one chunk except duplicate keys (checked on the kept rows)."""
    out: list[Violation] = []
    na_hint = (
        " (if these values mean 'missing', pass options={'na_values': [...]})"
        if source.format == "csv"
        else ""
    )
    for plan in plans:
        result = coerced[plan.name]
        if result.invalid.any():
            expected = plan.type.expected()
            if plan.type.dtype == "int":
                expected += " (the column is integer since its first rows; declare dtype: float in the contract if it holds fractions)"
            out.append(
                Violation(
                    "invalid_value",
                    plan.name,
                    result.invalid,
                    f"has values that cannot be read as {plan.type.describe()}",
                    expected,
                    hint=na_hint if plan.type.logical != "datetime" else "",
                )
            )
        values = result.values
        null = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool) & ~result.invalid
        if not plan.nullable and null.any():
            out.append(Violation("null", plan.name, null, "is empty", plan.null_reason()))
        if plan.type.logical == "numeric" and (plan.min is not None or plan.max is not None):
            numbers = np.asarray(
                pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
            )
            bounds = f"{plan.min if plan.min is not None else '-inf'} <= value <= {plan.max if plan.max is not None else 'inf'}"
            with np.errstate(invalid="ignore"):
                if plan.min is not None:
                    low = numbers < plan.min
                    if low.any():
                        out.append(
                            Violation(
                                "out_of_range",
                                plan.name,
                                low,
                                f"has values below the minimum {plan.min:g}",
                                bounds,
                            )
                        )
                if plan.max is not None:
                    high = numbers > plan.max
                    if high.any():
                        out.append(
                            Violation(
                                "out_of_range",
                                plan.name,
                                high,
                                f"has values above the maximum {plan.max:g}",
                                bounds,
                            )
                        )
        if plan.values is not None and plan.name != target:
            outside = _outside(values, plan.values)
            if outside.any():
                out.append(
                    Violation(
                        "out_of_range",
                        plan.name,
                        outside,
                        "has values outside the allowed values",
                        f"one of {sorted(plan.values)}",
                    )
                )
        if plan.name == target and classes is not None:
            outside = _outside(values, classes)
            if outside.any():
                out.append(
                    Violation(
                        "new_class",
                        plan.name,
                        outside,
                        "has target class(es) the contract does not list",
                        f"one of the contract's classes {sorted(classes)}",
                    )
                )
    return out


def _outside(values: pa.Array, allowed: frozenset[str]) -> Mask:
    """Rows whose value (spelled as a class label) is not in ``allowed``; one Python call per distinct value."""
    unique = pc.unique(values.drop_null())
    bad = [v for v in unique.to_pylist() if class_label(v) not in allowed]
    if not bad:
        return np.zeros(len(values), dtype=bool)
    flagged = pc.fill_null(pc.is_in(values, value_set=pa.array(bad, type=values.type)), False)
    return np.asarray(flagged.to_numpy(zero_copy_only=False), dtype=bool)
