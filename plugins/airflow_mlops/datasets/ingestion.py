"""One streaming pass over a source into a staging directory, and the snapshot files it leaves there.

The first chunk fixes the plan (:mod:`.planning`). Each chunk is then read as
the plan's types, checked row by row (:mod:`.checks`, :mod:`.keys`) with each
check's policy applied (:mod:`.policies`), and its kept rows feed the content
digest, the profile, the target's class counts (:mod:`.classes`), the split
and the Parquet writers. After the last chunk come the whole-dataset checks
(empty columns, vanished classes, a constant target), the time split if any,
and ``profile.json``, ``meta.json`` and the contract. Committing the staging
directory is the caller's part (:func:`~airflow_mlops.datasets.ingest.ingest`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from airflow_mlops.datasets.arguments import IngestArguments
from airflow_mlops.datasets.checks import ColumnPlan, Violation, row_violations
from airflow_mlops.datasets.classes import TargetClasses
from airflow_mlops.datasets.contract import CONTRACT_FILE, Contract, TaskType, save_contract
from airflow_mlops.datasets.errors import DataValidationError
from airflow_mlops.datasets.hashing import ContentDigest, hash_rows
from airflow_mlops.datasets.keys import KeyIndex, duplicate_keys
from airflow_mlops.datasets.planning import (
    check_columns,
    compare_with_contract,
    inferred_contract,
    is_classification,
    plan_column,
    policies_in_force,
)
from airflow_mlops.datasets.policies import Enforcer
from airflow_mlops.datasets.profile import Profiler
from airflow_mlops.datasets.schema import coerce
from airflow_mlops.datasets.snapshot import (
    HOLDOUT_FILE,
    META_FILE,
    PROFILE_FILE,
    QUARANTINE_FILE,
    SNAPSHOT_FORMAT,
    TRAIN_FILE,
    VERSION_LENGTH,
    PartWriter,
    write_json,
)
from airflow_mlops.datasets.sources import Source, rows_text
from airflow_mlops.datasets.split import StratifiedSplit, TimeSplit

log = logging.getLogger("airflow_mlops.datasets")

PROGRESS_EVERY = 10
"""Log progress every this many chunks."""


@dataclass(frozen=True)
class Outcome:
    """What a pass leaves for the caller: the snapshot's version and the contract it was checked against."""

    version: str
    contract: Contract
    n_quarantined: int


class Ingestion:
    """The state of one streaming pass over a source into a staging directory."""

    def __init__(
        self, source: Source, staging: Path, arguments: IngestArguments, contract: Contract | None
    ) -> None:
        self.source = source
        self.staging = staging
        self.args = arguments
        self.contract_in_force = contract
        self.plans: list[ColumnPlan] | None = None
        self.enforcer: Enforcer | None = None
        self.n_source_rows = 0
        self.n_rejected = 0
        self.n_kept = 0
        self.n_chunks = 0
        self.keys = KeyIndex()

    @property
    def stratify(self) -> bool:
        """Whether the random split is stratified: for class labels, unless the split is by time."""
        return self.classes.tracking and self.args.time_column is None

    def _start(self, first: pa.Table) -> None:
        """Plan from the first chunk, then set up what the pass feeds: digest, profile, classes, writers."""
        names = list(first.column_names)
        target = self.args.target
        check_columns(names, self.args, self.source.label)
        contract = self.contract_in_force
        self.policies = policies_in_force(contract, self.args, names)
        self.enforcer = Enforcer(self.source, self.policies, self.staging / QUARANTINE_FILE, names)
        if contract is not None:
            compare_with_contract(self.enforcer, contract, names)
        plans = [
            plan_column(name, first.column(name), args=self.args, contract=contract, enforcer=self.enforcer)
            for name in names
        ]
        self.plans = plans
        self.schema = pa.schema([pa.field(p.name, p.type.arrow_type) for p in plans])
        self.digest = ContentDigest(self.schema)
        self.profiler = Profiler({p.name: p.type for p in plans}, seed=self.args.seed)
        target_plan = next(p for p in plans if p.name == target)
        self.classes = TargetClasses(
            is_classification(contract, target_plan, first.column(target)),
            numeric=target_plan.type.logical == "numeric",
            source=self.source.label,
            target=target,
        )
        self.contract_classes = (
            frozenset(contract.classes) if contract is not None and contract.classes is not None else None
        )
        if self.args.time_column is not None:
            self.time_split = TimeSplit(self.args.holdout_fraction)
            self.all_rows = PartWriter(self.staging / "all.parquet", self.schema)
        else:
            self.splitter = StratifiedSplit(self.args.holdout_fraction, self.args.seed)
            self.train = PartWriter(self.staging / TRAIN_FILE, self.schema)
            self.holdout = PartWriter(self.staging / HOLDOUT_FILE, self.schema)

    # --- the pass ------------------------------------------------------------------------------

    def execute(self, *, fingerprint: str | None, started: float) -> Outcome:
        for chunk in self.source.chunks(self.args.chunk_rows):
            if self.plans is None:
                self._start(chunk.table)
            assert self.enforcer is not None
            self.n_source_rows += chunk.table.num_rows + len(chunk.rejected)
            self.n_rejected += len(chunk.rejected)
            self.enforcer.rejected(chunk.rejected)
            if chunk.table.num_rows:
                self._process(chunk.table, chunk.rows)
            self.n_chunks += 1
            if self.n_chunks % PROGRESS_EVERY == 0:
                now = time.monotonic()
                share = self.source.progress()
                log.info(
                    "%s: %d rows read%s, %d kept, %d chunks, %.0f rows/s",
                    self.source.label,
                    self.n_source_rows,
                    f" ({share:.0%})" if share is not None else "",
                    self.n_kept,
                    self.n_chunks,
                    self.n_source_rows / max(now - started, 1e-9),
                )
        return self._finish(fingerprint, started)

    def _process(self, raw: pa.Table, rows: npt.NDArray[np.int64]) -> None:
        assert self.plans is not None and self.enforcer is not None
        for plan in self.plans:
            if plan.name not in raw.column_names:  # a JSON chunk without any record having the key
                raw = raw.append_column(plan.name, pa.nulls(raw.num_rows, type=pa.string()))
        coerced = {p.name: coerce(raw.column(p.name), p.type) for p in self.plans}
        violations = row_violations(
            self.plans, coerced, classes=self.contract_classes, target=self.args.target, source=self.source
        )
        keep = self.enforcer.apply(violations, raw, rows)
        typed = pa.table({p.name: coerced[p.name].values for p in self.plans}, schema=self.schema)
        if self.args.key:
            hashes = hash_rows(typed, self.args.key)
            duplicate, first = duplicate_keys(self.keys, hashes, rows, keep)
            if duplicate.any():
                word = self.source.row_word
                key_text = ", ".join(self.args.key)
                violation = Violation(
                    "duplicate_key",
                    self.args.key[0] if len(self.args.key) == 1 else None,
                    duplicate,
                    f"repeats a key ({key_text}) already seen",
                    f"each key once (first seen in {rows_text(word, np.unique(first))})",
                    row_reasons=[f"key ({key_text}) first seen in {word} {int(f)}" for f in first],
                )
                keep &= self.enforcer.apply([violation], raw, rows)
        if not keep.all():
            typed = typed.filter(pa.array(keep))
        n = typed.num_rows
        if n == 0:
            return
        ordinals = np.arange(self.n_kept, self.n_kept + n, dtype=np.int64)
        self.n_kept += n
        self.digest.update(typed)
        self.profiler.update(typed, ordinals)
        codes = self.classes.codes(typed.column(self.args.target))
        if self.args.time_column is not None:
            times = typed.column(self.args.time_column)
            # A missing time (kept only under a 'warn' policy) sorts first: it trains.
            if pa.types.is_timestamp(times.type):
                earliest = pa.scalar(np.iinfo(np.int64).min, pa.int64())
                self.time_split.add(pc.fill_null(pc.cast(times, pa.int64()), earliest).to_numpy())
            else:
                numbers = pc.fill_null(pc.cast(times, pa.float64()), -np.inf)
                self.time_split.add(numbers.to_numpy())
            self.all_rows.write(typed)
            return
        holdout = self.splitter.assign(codes if self.stratify else np.zeros(n, dtype=np.int64))
        if self.classes.tracking:
            self.classes.count_holdout(codes[holdout])
        self.train.write(typed.filter(pa.array(~holdout)))
        self.holdout.write(typed.filter(pa.array(holdout)))

    # --- finishing -----------------------------------------------------------------------------

    def _finish(self, fingerprint: str | None, started: float) -> Outcome:
        label = self.source.label
        word = self.source.row_word
        if self.plans is None or self.enforcer is None:
            raise DataValidationError(
                f"{label}: has no {word}s; expected at least one", source=label, check="empty"
            )
        if self.n_source_rows == 0:
            raise DataValidationError(
                f"{label}: has a header ({len(self.plans)} columns) but no data rows; expected at least one "
                f"{word}",
                source=label,
                check="empty",
            )
        quarantine = self.enforcer.quarantine
        quarantine.close()
        n = self.n_kept
        if n == 0:
            raise DataValidationError(
                f"{label}: all {self.n_source_rows} rows were rejected or quarantined; expected at least two rows "
                f"to snapshot (see the issues: {self.enforcer.issues()[:3]})",
                source=label,
            )
        target = self.args.target
        for plan in self.plans:
            if plan.name != target and self.profiler.non_null_count(plan.name) == 0:
                self.enforcer.dataset_issue(
                    "all_null",
                    plan.name,
                    f"column {plan.name!r} is empty in all {n} rows; expected at least one value "
                    "(drop the column from the source, or fix the export)",
                )
        task = self._check_target(n)
        if self.contract_classes is not None and self.classes.tracking:
            vanished = sorted(set(self.contract_classes) - set(self.classes.labels))
            if vanished:
                self.enforcer.dataset_issue(
                    "vanished_class",
                    target,
                    f"target class(es) {vanished} of the contract have no row in this ingestion; expected "
                    f"every class of {sorted(self.contract_classes)}",
                )
        if n < 2:
            raise DataValidationError(
                f"{label}: has {n} usable row; expected at least 2 rows to split into train and holdout",
                source=label,
            )

        if self.args.time_column is not None:
            split_method = "time"
            self._split_by_time()
        else:
            split_method = "stratified" if self.stratify else "random"
            self.train.close()
            self.holdout.close()
        n_train, n_holdout = self.train.rows, self.holdout.rows
        if n_train == 0 or n_holdout == 0:
            raise DataValidationError(
                f"{label}: {n} rows gave {n_train} training and {n_holdout} holdout rows with holdout_fraction "
                f"{self.args.holdout_fraction}; expected at least one row on each side (add rows or change "
                "holdout_fraction)",
                source=label,
            )

        columns_profile = self.profiler.result()
        profile: dict[str, Any] = {
            "n_rows": n,
            "n_train": n_train,
            "n_holdout": n_holdout,
            "n_quarantined": quarantine.rows,
            "target": self._target_profile(task),
            "columns": columns_profile,
        }
        contract = self.contract_in_force
        if contract is None:
            contract = inferred_contract(
                self.plans,
                columns_profile,
                task=task,
                classes=self.classes.seen(),
                args=self.args,
                policies=self.policies,
            )
        header = json.dumps(self.args.split_params(), sort_keys=True).encode()
        if quarantine.rows:
            quarantine_digest = ContentDigest(quarantine.schema)
            for part in quarantine.digest_parts:
                quarantine_digest.update(part)
            header += quarantine_digest.hexdigest().encode()
        digest = self.digest.hexdigest(header)
        version = digest[:VERSION_LENGTH]
        meta = {
            "format": SNAPSHOT_FORMAT,
            "dataset": self.args.dataset,
            "version": version,
            "content_sha256": digest,
            "source": label,
            "source_info": self.source.describe(),
            "source_sha256": fingerprint,
            "target": target,
            "task": task,
            "task_hint": "regression" if task == "regression" else "classification",
            "time_column": self.args.time_column,
            "key": list(self.args.key),
            "holdout_fraction": self.args.holdout_fraction,
            "seed": self.args.seed,
            "split_method": split_method,
            "created_at": datetime.now(UTC).isoformat(),
            "n_rows": n,
            "n_source_rows": self.n_source_rows,
            "n_train": n_train,
            "n_holdout": n_holdout,
            "n_quarantined": quarantine.rows,
            "columns": [
                {"name": p.name, "type": p.type.logical, "dtype": str(p.type.arrow_type)} for p in self.plans
            ],
            "contract": {
                "origin": contract.origin,
                "path": self.contract_in_force.path if self.contract_in_force is not None else None,
                "digest": contract.digest(),
                "policy": self.policies.policy,
                "checks": dict(self.policies.checks),
            },
            "issues": self.enforcer.issues(),
            "files": {
                "train": TRAIN_FILE,
                "holdout": HOLDOUT_FILE,
                "profile": PROFILE_FILE,
                "contract": CONTRACT_FILE,
                **({"quarantine": QUARANTINE_FILE} if quarantine.rows else {}),
            },
            "duration_s": round(time.monotonic() - started, 3),
        }
        write_json(self.staging / PROFILE_FILE, profile)
        save_contract(contract, self.staging / CONTRACT_FILE)
        write_json(self.staging / META_FILE, meta)
        return Outcome(version=version, contract=contract, n_quarantined=quarantine.rows)

    def _check_target(self, n: int) -> TaskType:
        if self.classes.tracking:
            return self.classes.task(n)
        target = self.args.target
        if self.profiler.distinct_count(target) < 2:
            label = self.source.label
            value = self.profiler.result()[target].get("min")
            raise DataValidationError(
                f"{label}: target column {target!r} has the single value {value!r} in all {n} rows (a constant "
                "target); expected at least two distinct values",
                source=label,
                check="target",
                column=target,
            )
        return "regression"

    def _split_by_time(self) -> None:
        """Second pass over the staged rows: the latest ones go to the holdout."""
        self.all_rows.close()
        mask = self.time_split.holdout_mask()
        self.train = PartWriter(self.staging / TRAIN_FILE, self.schema)
        self.holdout = PartWriter(self.staging / HOLDOUT_FILE, self.schema)
        done = 0
        parquet = pq.ParquetFile(self.all_rows.path)
        for batch in parquet.iter_batches(batch_size=self.args.chunk_rows):
            part = pa.Table.from_batches([batch], schema=self.schema)
            held = mask[done : done + part.num_rows]
            done += part.num_rows
            held_rows = part.filter(pa.array(held))
            if self.classes.tracking:
                self.classes.count_holdout(self.classes.codes_of(held_rows.column(self.args.target)))
            self.train.write(part.filter(pa.array(~held)))
            self.holdout.write(held_rows)
        self.train.close()
        self.holdout.close()
        self.all_rows.path.unlink()

    def _target_profile(self, task: TaskType) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.args.target,
            "task": task,
            "task_hint": "regression" if task == "regression" else "classification",
        }
        if task != "regression":
            out["distribution"], out["distribution_holdout"] = self.classes.distributions()
        return out
