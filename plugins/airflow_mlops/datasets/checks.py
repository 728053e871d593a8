"""Row checks: which rows of a chunk break which rule, found on values already read as their type.

Each check (see :data:`~airflow_mlops.datasets.contract.CHECKS`) finds the rows
that break one rule on one column and describes them as a :class:`Violation`;
what happens to those rows is the check's policy, applied by
:class:`~airflow_mlops.datasets.policies.Enforcer`. Duplicate keys are checked
separately (:mod:`.keys`), on the rows the other checks kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from airflow_mlops.datasets.contract import class_label
from airflow_mlops.datasets.schema import Coerced, ColumnType
from airflow_mlops.datasets.sources import Source

Mask = npt.NDArray[np.bool_]
Role = Literal["target", "key", "time", "feature"]


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
