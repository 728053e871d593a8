"""The settings of one ingestion, checked before anything is read or written.

Wrong settings are programming or configuration mistakes, not bad data, so
they raise ``ValueError`` (never :class:`~airflow_mlops.datasets.errors.DataValidationError`)
naming the argument and quoting the bad value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_mlops.datasets.contract import POLICIES, Contract
from airflow_mlops.datasets.snapshot import SNAPSHOT_FORMAT, check_name


@dataclass(frozen=True)
class IngestArguments:
    """The arguments of :func:`~airflow_mlops.datasets.ingest.ingest` that shape the snapshot, validated."""

    dataset: str
    target: str
    holdout_fraction: float
    seed: int
    time_column: str | None
    key: tuple[str, ...]
    policy: str | None
    checks: Mapping[str, str] | None
    chunk_rows: int

    @classmethod
    def validate(cls, **values: Any) -> IngestArguments:
        check_name(values["dataset"], "dataset")
        target = values["target"]
        if not isinstance(target, str) or not target:
            raise ValueError(f"target must be a non-empty column name, got {target!r}")
        fraction = values["holdout_fraction"]
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0.0 < fraction < 1.0:
            raise ValueError(f"holdout_fraction must be strictly between 0 and 1, got {fraction!r}")
        seed = values["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        time_column = values["time_column"] or None
        if time_column is not None and not isinstance(time_column, str):
            raise ValueError(f"time_column must be a column name, got {time_column!r}")
        key = values["key"]
        keys: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key or ())
        if any(not isinstance(k, str) or not k for k in keys):
            raise ValueError(f"key must be a column name or a list of column names, got {key!r}")
        policy = values["policy"] or None
        if policy is not None and policy not in POLICIES:
            raise ValueError(f"policy must be one of {list(POLICIES)}, got {policy!r}")
        chunk_rows = values["chunk_rows"]
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        return cls(
            dataset=values["dataset"],
            target=target,
            holdout_fraction=float(fraction),
            seed=int(seed),
            time_column=time_column,
            key=keys,
            policy=policy,
            checks=values["checks"],
            chunk_rows=chunk_rows,
        )

    def merged_with(self, contract: Contract | None) -> IngestArguments:
        """Key and time column default to the contract's; naming different ones is an error."""
        if contract is None:
            return self
        where = contract.describe()
        if contract.target != self.target:
            raise ValueError(
                f"target {self.target!r} differs from the target {contract.target!r} of {where}; expected the "
                "same target for every version of a dataset (use another dataset name for another target)"
            )
        key, time_column = self.key, self.time_column
        if key and contract.key and key != contract.key:
            raise ValueError(f"key {list(key)} differs from the key {list(contract.key)} of {where}")
        if time_column and contract.time_column and time_column != contract.time_column:
            raise ValueError(
                f"time_column {time_column!r} differs from the time column {contract.time_column!r} of {where}"
            )
        return IngestArguments(
            dataset=self.dataset,
            target=self.target,
            holdout_fraction=self.holdout_fraction,
            seed=self.seed,
            time_column=time_column or contract.time_column,
            key=key or contract.key,
            policy=self.policy,
            checks=self.checks,
            chunk_rows=self.chunk_rows,
        )

    def split_params(self) -> dict[str, Any]:
        return {
            "format": SNAPSHOT_FORMAT,
            "target": self.target,
            "holdout_fraction": self.holdout_fraction,
            "seed": self.seed,
            "time_column": self.time_column,
        }
