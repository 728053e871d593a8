"""The plan of an ingestion: each column's type, role and checks, fixed from the first chunk and the contract.

The first chunk decides, for every column, how it is read (a type from the
contract, else inferred from the values) and what is checked (nullability,
bounds, allowed values; the target, key and time columns must never be
empty). Columns the contract lists but the source lacks, columns it does not
list, and a column whose values no longer read as its contract type are
dataset-level issues, raised or warned about by the check's policy. At the
end of a first ingestion the plan, with the profile, becomes the inferred
contract (:func:`inferred_contract`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_mlops.datasets.arguments import IngestArguments
from airflow_mlops.datasets.checks import ColumnPlan, Role
from airflow_mlops.datasets.contract import ColumnContract, Contract, TaskType
from airflow_mlops.datasets.errors import DataValidationError
from airflow_mlops.datasets.policies import Enforcer
from airflow_mlops.datasets.schema import MAJORITY, ColumnType, coerce, infer
from airflow_mlops.datasets.sources import DELIMITERS

MAX_CLASSES = 20
"""A numeric target with at most this many distinct whole values is treated as class labels."""


def check_columns(names: Sequence[str], args: IngestArguments, label: str) -> None:
    """The target, the time column and the key columns must be among the source's columns."""
    names = list(names)
    target = args.target
    if target not in names:
        raise DataValidationError(
            f"{label}: target column {target!r} not found; columns found: {names}{delimiter_hint(names)}",
            source=label,
            check="target",
            column=target,
        )
    if names == [target]:
        raise DataValidationError(
            f"{label}: the only column is the target {target!r}; expected feature columns besides it"
            f"{delimiter_hint(names)}",
            source=label,
            check="target",
        )
    time_column = args.time_column
    if time_column is not None and time_column not in names:
        raise DataValidationError(
            f"{label}: time column {time_column!r} not found; columns found: {names}",
            source=label,
            check="time_column",
            column=time_column,
        )
    missing_key = [k for k in args.key if k not in names]
    if missing_key:
        raise DataValidationError(
            f"{label}: key column(s) {missing_key} not found; columns found: {names}",
            source=label,
            check="key",
            column=missing_key[0],
        )


def policies_in_force(contract: Contract | None, args: IngestArguments, names: Sequence[str]) -> Contract:
    """The contract whose policies apply, with the arguments' overrides.

    A first ingestion has no contract yet; one listing the columns as text
    carries the default policies until the inferred contract replaces it.
    """
    policies = contract or Contract(
        dataset=args.dataset,
        target=args.target,
        columns=tuple(ColumnContract(n, "text") for n in names),
        origin="first-ingestion",
    )
    return policies.with_policies(args.policy, args.checks)


def compare_with_contract(enforcer: Enforcer, contract: Contract, names: Sequence[str]) -> None:
    """Columns of the contract missing from the source, and source columns the contract does not list."""
    names = list(names)
    for name in contract.names:
        if name not in names:
            enforcer.dataset_issue(
                "missing_column",
                name,
                f"column {name!r} of the contract is missing; columns found: {names}; expected every "
                f"contract column: {contract.names}",
            )
    for name in names:
        if contract.column(name) is None:
            enforcer.dataset_issue(
                "extra_column",
                name,
                f"column {name!r} is not in the contract; expected only the contract columns "
                f"{contract.names} (add it to the contract, or drop it from the source)",
            )


def plan_column(
    name: str,
    column: pa.ChunkedArray,
    *,
    args: IngestArguments,
    contract: Contract | None,
    enforcer: Enforcer,
) -> ColumnPlan:
    """How ``column`` (its first chunk) is read and checked: the contract's type, else the inferred one."""
    roles: set[Role] = set()
    if name == args.target:
        roles.add("target")
    if name in args.key:
        roles.add("key")
    if name == args.time_column:
        roles.add("time")
    inferred, _ = infer(column)
    if "time" in roles and inferred.logical not in ("numeric", "datetime"):
        inferred = ColumnType("datetime")
    spec = contract.column(name) if contract is not None else None
    if spec is None:
        return ColumnPlan(name, inferred, nullable=not roles, roles=frozenset(roles or {"feature"}))
    dtype = spec.dtype or (inferred.dtype if inferred.logical == "numeric" else "float")
    column_type = ColumnType(spec.type, dtype if spec.type == "numeric" else None, spec.format)
    present = len(column) - column.null_count
    if present and spec.type not in ("categorical", "text"):
        result = coerce(column, column_type)
        readable = 1.0 - float(result.invalid.sum()) / present
        if readable < MAJORITY:
            example_index = int(np.flatnonzero(result.invalid)[0])
            example = column[example_index].as_py()
            warned = enforcer.dataset_issue(
                "type_change",
                name,
                f"column {name!r} is {column_type.describe()} in the contract, but only {readable:.0%} of "
                f"its first {present} values read as that (e.g. {example!r}); it now looks "
                f"{inferred.describe()}; expected {column_type.expected()}",
            )
            if warned:
                column_type = inferred
    return ColumnPlan(
        name,
        column_type,
        nullable=spec.nullable and not roles,
        min=spec.min,
        max=spec.max,
        values=frozenset(spec.values) if spec.values is not None else None,
        roles=frozenset(roles or {"feature"}),
    )


def is_classification(contract: Contract | None, target: ColumnPlan, first: pa.ChunkedArray) -> bool:
    """The contract's task when it names one, else a guess from the target's first chunk."""
    if contract is not None and contract.task is not None:
        return contract.task in ("binary", "multiclass")
    return looks_like_classes(target.type, coerce(first, target.type).values)


def looks_like_classes(column_type: ColumnType, values: pa.Array) -> bool:
    """Few distinct whole numbers, booleans or labels: a classification target (a guess from the first chunk)."""
    if column_type.logical != "numeric":
        return True
    present = values.drop_null()
    if len(present) == 0:
        return False
    numbers = np.asarray(pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    whole = bool(np.all(np.isfinite(numbers) & (np.floor(numbers) == numbers)))
    return whole and int(pc.count_distinct(present).as_py()) <= MAX_CLASSES


def delimiter_hint(names: Sequence[str]) -> str:
    """A hint for a CSV read with the wrong delimiter: one column whose name holds another delimiter."""
    if len(names) == 1:
        found = [d for d in DELIMITERS if d in names[0]]
        if found:
            return (
                f" (the header is a single column containing {found[0]!r}: is the delimiter right? pass "
                f"options={{'delimiter': {found[0]!r}}})"
            )
    return ""


def inferred_contract(
    plans: Sequence[ColumnPlan],
    columns: Mapping[str, Mapping[str, Any]],
    *,
    task: TaskType,
    classes: Sequence[str],
    args: IngestArguments,
    policies: Contract,
) -> Contract:
    """The contract a first ingestion leaves: the planned types, nullability and bounds seen in the profile.

    ``classes`` are the target's labels that have rows (ignored for regression).
    """
    specs = []
    for plan in plans:
        entry = columns[plan.name]
        non_negative = plan.type.logical == "numeric" and entry.get("min") is not None and entry["min"] >= 0
        specs.append(
            ColumnContract(
                name=plan.name,
                type=plan.type.logical,
                dtype=plan.type.dtype,
                format=plan.type.format,
                nullable=plan.nullable and entry["n_missing"] > 0,
                min=0.0 if non_negative else None,
            )
        )
    return Contract(
        dataset=args.dataset,
        target=args.target,
        columns=tuple(specs),
        task=task,
        classes=tuple(sorted(classes)) if task != "regression" else None,
        key=args.key,
        time_column=args.time_column,
        policy=policies.policy,
        checks=dict(policies.checks),
        origin="inferred",
    )
