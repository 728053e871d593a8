"""A dataset's data contract: the columns, types and target every version must keep to.

A model trained on version 1 of a dataset and retrained on version 7 silently
goes wrong if a column disappeared, changed type, or the target gained a class
in between. So the first ingestion of a dataset *infers* a contract and stores
it next to the snapshots (``<snapshots>/<dataset>/contract.yaml``); every later
ingestion is checked against it. A contract can also be written by hand, in
the same YAML, under ``include/contracts/<dataset>.yaml``; a hand-written one
wins over the stored one and is never overwritten.

What is inferred, and why so little: column names and order, logical types
(:mod:`~airflow_mlops.datasets.schema`), nullability (a column without a single
missing value must stay complete), ``min: 0`` for numeric columns that were
never negative (counts, amounts, durations), the target, its task type and its
classes, the key and time column if they were named. Observed min/max or
category lists are *not* inferred: the next month's data legitimately has a
larger maximum and a new product name; write those bounds by hand.

Each check has a policy: ``fail`` (no snapshot), ``warn`` (the snapshot keeps
the rows; the warning is logged and listed in ``meta.json``) or ``quarantine``
(the offending rows go to ``quarantine.parquet`` in the snapshot, each with its
reason, and the rest is snapshotted). Row-level checks can quarantine; checks
about a whole column or dataset (:data:`DATASET_CHECKS`) can only fail or warn.

.. code-block:: yaml

    dataset: churn
    target: churned
    task: binary
    classes: ['0', '1']
    key: [customer_id]
    time_column: event_time
    policy: fail              # default for every check
    checks:                   # per-check overrides
      out_of_range: quarantine
      extra_column: warn
    columns:
      customer_id: {type: text, nullable: false}
      tenure_months: {type: numeric, dtype: int, min: 0, max: 72}
      contract: {type: categorical, values: [month-to-month, one-year, two-year]}
      event_time: {type: datetime}
      churned: {type: numeric, dtype: int, nullable: false}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

from airflow_mlops.datasets.errors import ContractError
from airflow_mlops.datasets.schema import LOGICAL_TYPES, NUMERIC_DTYPES, LogicalType, NumericDtype
from airflow_mlops.storage import StoragePath, as_storage_path, write_bytes_atomic

Policy = Literal["fail", "warn", "quarantine"]
POLICIES: tuple[Policy, ...] = get_args(Policy)
TaskType = Literal["binary", "multiclass", "regression"]
TASK_TYPES: tuple[TaskType, ...] = get_args(TaskType)

#: Checks decided row by row: the offending rows can be quarantined.
ROW_CHECKS: dict[str, str] = {
    "malformed_row": "a row that cannot be split into the header's columns (ragged CSV row, bad JSON line)",
    "invalid_value": "a value that cannot be read as its column's type (mixed types, unparseable dates)",
    "null": "a missing value in a column that must be complete (target, key, time column, non-nullable)",
    "out_of_range": "a number outside the column's min/max, or a category outside its values",
    "new_class": "a target class the contract does not list",
    "duplicate_key": "a row whose key was already seen in this ingestion",
}
#: Checks about a whole column or the dataset: fail or warn only.
DATASET_CHECKS: dict[str, str] = {
    "missing_column": "a contract column the source does not have",
    "extra_column": "a source column the contract does not list",
    "type_change": "a column whose values mostly cannot be read as the contract's type",
    "vanished_class": "a contract class with no row in this ingestion",
    "all_null": "a column that is empty in every row",
}
CHECKS: dict[str, str] = {**ROW_CHECKS, **DATASET_CHECKS}

CONTRACT_FILE = "contract.yaml"
_TOP_KEYS = ("dataset", "target", "task", "classes", "key", "time_column", "policy", "checks", "columns")
_COLUMN_KEYS = ("type", "dtype", "format", "nullable", "min", "max", "values")


@dataclass(frozen=True)
class ColumnContract:
    """What one column must look like. ``dtype`` ``None``: numeric, int or float as the data says."""

    name: str
    type: LogicalType
    dtype: NumericDtype | None = None
    format: str | None = None
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.dtype is not None:
            out["dtype"] = self.dtype
        if self.format is not None:
            out["format"] = self.format
        out["nullable"] = self.nullable
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.values is not None:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True)
class Contract:
    """A dataset's contract; build one with :func:`load_contract`, :meth:`from_dict` or inference."""

    dataset: str
    target: str
    columns: tuple[ColumnContract, ...]
    task: TaskType | None = None
    classes: tuple[str, ...] | None = None
    key: tuple[str, ...] = ()
    time_column: str | None = None
    policy: Policy = "fail"
    checks: Mapping[str, Policy] = field(default_factory=dict)
    origin: str = "hand-written"
    path: str | None = field(default=None, compare=False)

    def column(self, name: str) -> ColumnContract | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def policy_for(self, check: str) -> Policy:
        """The policy of ``check``: its override, else the default (``quarantine`` fails dataset checks)."""
        if check not in CHECKS:
            raise ValueError(f"unknown check {check!r}; checks are {sorted(CHECKS)}")
        policy = self.checks.get(check, self.policy)
        if policy == "quarantine" and check in DATASET_CHECKS:
            return "fail"
        return policy

    def with_policies(self, policy: str | None, checks: Mapping[str, str] | None) -> Contract:
        """A copy with the default policy and/or per-check policies overridden (validated)."""
        where = "ingest arguments"
        new_policy = _policy(policy, f"{where}: policy") if policy is not None else self.policy
        merged = dict(self.checks)
        merged.update(_checks(checks or {}, f"{where}: checks"))
        return replace(self, policy=new_policy, checks=merged)

    def describe(self) -> str:
        """How messages name this contract: its file, or that it was inferred."""
        if self.origin == "first-ingestion":
            return f"none yet (first ingestion of {self.dataset!r}; its contract is inferred from this data)"
        return self.path or f"{self.origin} contract of dataset {self.dataset!r}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset, "target": self.target}
        if self.task is not None:
            out["task"] = self.task
        if self.classes is not None:
            out["classes"] = list(self.classes)
        if self.key:
            out["key"] = list(self.key)
        if self.time_column is not None:
            out["time_column"] = self.time_column
        out["policy"] = self.policy
        if self.checks:
            out["checks"] = dict(sorted(self.checks.items()))
        out["columns"] = {c.name: c.to_dict() for c in self.columns}
        return out

    def to_yaml(self) -> str:
        header = (
            f"# Data contract of dataset {self.dataset!r} ({self.origin}).\n"
            "# Every ingestion is checked against it; see airflow_mlops/datasets/contract.py.\n"
        )
        return header + yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def digest(self) -> str:
        """A hash of what the contract demands (not where it came from)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: Any, *, where: str, origin: str = "hand-written") -> Contract:
        """Validate ``data`` (parsed YAML); every error names ``where`` and the field."""
        if not isinstance(data, Mapping):
            raise ContractError(
                f"{where}: expected a mapping with keys {list(_TOP_KEYS)}, got {type(data).__name__}"
            )
        unknown = sorted(set(data) - set(_TOP_KEYS))
        if unknown:
            raise ContractError(f"{where}: unknown key(s) {unknown}; expected some of {list(_TOP_KEYS)}")
        for required in ("dataset", "target", "columns"):
            if required not in data:
                raise ContractError(f"{where}: missing required key {required!r}")
        dataset = _string(data["dataset"], f"{where}: dataset")
        target = _string(data["target"], f"{where}: target")
        raw_columns = data["columns"]
        if not isinstance(raw_columns, Mapping) or not raw_columns:
            raise ContractError(
                f"{where}: columns: expected a non-empty mapping of column name to spec, got {raw_columns!r}"
            )
        columns = tuple(
            _column(str(name), spec, f"{where}: columns.{name}") for name, spec in raw_columns.items()
        )
        names = [c.name for c in columns]
        if target not in names:
            raise ContractError(f"{where}: target {target!r} is not among the columns {names}")
        task = data.get("task")
        if task is not None and task not in TASK_TYPES:
            raise ContractError(
                f"{where}: task: {task!r} is not a task type; expected one of {list(TASK_TYPES)}"
            )
        classes = data.get("classes")
        if classes is not None:
            if not isinstance(classes, Sequence) or isinstance(classes, str) or not classes:
                raise ContractError(
                    f"{where}: classes: expected a non-empty list of class labels, got {classes!r}"
                )
            classes = tuple(class_label(c) for c in classes)
        key = data.get("key") or ()
        if isinstance(key, str):
            key = (key,)
        key = tuple(str(k) for k in key)
        missing_key = [k for k in key if k not in names]
        if missing_key:
            raise ContractError(f"{where}: key: column(s) {missing_key} are not among the columns {names}")
        time_column = data.get("time_column")
        if time_column is not None and str(time_column) not in names:
            raise ContractError(f"{where}: time_column: {time_column!r} is not among the columns {names}")
        return cls(
            dataset=dataset,
            target=target,
            columns=columns,
            task=cast(TaskType | None, task),
            classes=classes,
            key=key,
            time_column=None if time_column is None else str(time_column),
            policy=_policy(data.get("policy", "fail"), f"{where}: policy"),
            checks=_checks(data.get("checks") or {}, f"{where}: checks"),
            origin=origin,
            path=where if origin == "hand-written" else None,
        )


def class_label(value: Any) -> str:
    """One spelling per class across sources: ``1``, ``1.0`` and ``"1"`` are all ``"1"``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_contract(path: StoragePath | str | os.PathLike[str], *, origin: str = "hand-written") -> Contract:
    """Read a contract YAML file (local, or an fsspec URL / UPath); errors name the file and the field."""
    try:
        location = as_storage_path(path)
    except ValueError as exc:
        raise ContractError(str(exc)) from None
    try:
        text = location.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"{location}: contract file does not exist") from None
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ContractError(f"{location}: not valid YAML ({exc})") from exc
    contract = Contract.from_dict(data, where=str(location), origin=origin)
    return replace(contract, path=str(location))


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. Under YAML 1.1, ``classes: [no, yes]`` would become booleans."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def find_contract(dataset: str, search_dirs: Sequence[str | os.PathLike[str]]) -> Path | None:
    """The first ``<dir>/<dataset>.yaml`` (or ``.yml``) that exists, searching ``search_dirs`` in order."""
    for directory in search_dirs:
        for suffix in (".yaml", ".yml"):
            candidate = Path(directory) / f"{dataset}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def save_contract(contract: Contract, path: StoragePath) -> None:
    """Write ``contract`` as YAML atomically (locally a temporary file renamed into place,
    on object storage one PUT; see :func:`airflow_mlops.storage.write_bytes_atomic`)."""
    write_bytes_atomic(path, contract.to_yaml().encode("utf-8"))


def _column(name: str, spec: Any, where: str) -> ColumnContract:
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise ContractError(
            f"{where}: expected a mapping with keys {list(_COLUMN_KEYS)} or a type name, got {spec!r}"
        )
    unknown = sorted(set(spec) - set(_COLUMN_KEYS))
    if unknown:
        raise ContractError(f"{where}: unknown key(s) {unknown}; expected some of {list(_COLUMN_KEYS)}")
    kind = spec.get("type")
    if kind not in LOGICAL_TYPES:
        raise ContractError(f"{where}.type: {kind!r} is not a type; expected one of {list(LOGICAL_TYPES)}")
    dtype = spec.get("dtype")
    if dtype is not None and (kind != "numeric" or dtype not in NUMERIC_DTYPES):
        raise ContractError(
            f"{where}.dtype: {dtype!r} is not allowed for type {kind!r}; expected one of "
            f"{list(NUMERIC_DTYPES)} on a numeric column"
        )
    fmt = spec.get("format")
    if fmt is not None and (kind != "datetime" or not isinstance(fmt, str)):
        raise ContractError(f"{where}.format: only a datetime column takes a strptime format, got {fmt!r}")
    nullable = spec.get("nullable", True)
    if not isinstance(nullable, bool):
        raise ContractError(f"{where}.nullable: expected true or false, got {nullable!r}")
    bounds: dict[str, float | None] = {}
    for bound in ("min", "max"):
        value = spec.get(bound)
        if value is not None and (
            kind != "numeric" or isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise ContractError(f"{where}.{bound}: expected a number on a numeric column, got {value!r}")
        bounds[bound] = None if value is None else float(value)
    if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
        raise ContractError(f"{where}: min {bounds['min']} is greater than max {bounds['max']}")
    values = spec.get("values")
    if values is not None:
        if (
            kind not in ("categorical", "text", "boolean")
            or not isinstance(values, Sequence)
            or isinstance(values, str)
        ):
            raise ContractError(
                f"{where}.values: expected a list of allowed values on a categorical column, got {values!r}"
            )
        values = tuple(class_label(v) for v in values)
    return ColumnContract(
        name=name,
        type=cast(LogicalType, kind),
        dtype=cast(NumericDtype | None, dtype),
        format=fmt,
        nullable=nullable,
        min=bounds["min"],
        max=bounds["max"],
        values=values,
    )


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ContractError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _policy(value: Any, where: str) -> Policy:
    if value not in POLICIES:
        raise ContractError(f"{where}: {value!r} is not a policy; expected one of {list(POLICIES)}")
    return cast(Policy, value)


def _checks(value: Any, where: str) -> dict[str, Policy]:
    if not isinstance(value, Mapping):
        raise ContractError(f"{where}: expected a mapping of check name to policy, got {value!r}")
    out: dict[str, Policy] = {}
    for check, policy in value.items():
        if check not in CHECKS:
            raise ContractError(f"{where}: {check!r} is not a check; expected one of {sorted(CHECKS)}")
        parsed = _policy(policy, f"{where}.{check}")
        if parsed == "quarantine" and check in DATASET_CHECKS:
            raise ContractError(
                f"{where}.{check}: 'quarantine' is not possible for a check about a whole column or "
                "dataset; expected 'fail' or 'warn'"
            )
        out[check] = parsed
    return out
