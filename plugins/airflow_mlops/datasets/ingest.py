"""Ingestion: any source becomes a validated, immutable, versioned training snapshot.

:func:`ingest` is the one entry point; it ties the parts together in a single
streaming pass with bounded memory:

1. **open** the source (:mod:`.sources`, :mod:`.sql`), refusing local paths
   outside the allowed roots (:mod:`.roots`);
2. **fingerprint** a file source's bytes (a cheap sequential pass that also
   refuses empty files and non-UTF-8 bytes); if the same bytes were already
   ingested with the same settings, return that snapshot without parsing;
3. **plan** the columns from the first chunk and the dataset's contract
   (:mod:`.contract`): types (:mod:`.schema`), missing/extra columns, type changes;
4. for each **chunk**: read values as their types, run the row checks and
   apply each check's policy (:mod:`.checks`), then feed the kept rows to the
   content digest, the profile (:mod:`.profile`), the split (:mod:`.split`)
   and the Parquet writers;
5. **finish**: whole-dataset checks (empty columns, vanished classes, a
   constant target), the time split if any, ``profile.json``, ``meta.json``,
   the contract; the version is the content digest; the staging directory is
   renamed into place (:mod:`.snapshot`) and ``LATEST`` moved.

Nothing in the dataset's directory changes until step 5 succeeds, so a failed
ingestion leaves no partial snapshot and the ``LATEST`` pointer untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from airflow_mlops.datasets.checks import ColumnPlan, Role, Violation, row_violations
from airflow_mlops.datasets.contract import (
    CONTRACT_FILE,
    POLICIES,
    ColumnContract,
    Contract,
    TaskType,
    class_label,
    load_contract,
    save_contract,
)
from airflow_mlops.datasets.errors import DataValidationError, SourceError
from airflow_mlops.datasets.hashing import ContentDigest, hash_rows
from airflow_mlops.datasets.keys import KeyIndex, duplicate_keys
from airflow_mlops.datasets.policies import Enforcer
from airflow_mlops.datasets.profile import Profiler
from airflow_mlops.datasets.schema import MAJORITY, ColumnType, coerce, infer
from airflow_mlops.datasets.snapshot import (
    HOLDOUT_FILE,
    META_FILE,
    PROFILE_FILE,
    QUARANTINE_FILE,
    SNAPSHOT_FORMAT,
    TRAIN_FILE,
    VERSION_LENGTH,
    PartWriter,
    Snapshot,
    SnapshotStore,
    write_json,
)
from airflow_mlops.datasets.sources import (
    DEFAULT_CHUNK_ROWS,
    DELIMITERS,
    FileSource,
    Source,
    open_source,
    rows_text,
)
from airflow_mlops.datasets.split import StratifiedSplit, TimeSplit
from airflow_mlops.datasets.sql import SqlSource

log = logging.getLogger("airflow_mlops.datasets")

MAX_CLASSES = 20
"""A numeric target with at most this many distinct whole values is treated as class labels."""
MAX_STRATA = 1_000
"""A text target with more distinct values than this is refused (likely an id, not a label)."""
PROGRESS_EVERY = 10
"""Log progress every this many chunks."""


def ingest(
    source: Any,
    *,
    dataset: str,
    target: str,
    snapshots_dir: str | os.PathLike[str],
    holdout_fraction: float = 0.2,
    seed: int = 0,
    time_column: str | None = None,
    key: str | Sequence[str] | None = None,
    format: str | None = None,
    options: Mapping[str, Any] | None = None,
    connection: Any = None,
    table: str | None = None,
    contract: Contract | str | os.PathLike[str] | None = None,
    policy: str | None = None,
    checks: Mapping[str, str] | None = None,
    allowed_roots: Sequence[str | os.PathLike[str]] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Snapshot:
    """Validate ``source`` and store it as a snapshot of ``dataset``, or return the identical existing one.

    ``source`` is a path, an fsspec URL, an ``ObjectStoragePath``, a
    :class:`~airflow_mlops.datasets.sources.Source`, or a SQL query when
    ``connection`` (a SQLAlchemy URL or engine) is given; with ``table`` and a
    connection, ``source`` may be None. ``format`` and ``options`` select and
    configure the file reader (see :mod:`.sources`).

    The holdout is the latest ``holdout_fraction`` of rows by ``time_column``
    when one is named, otherwise drawn per row with ``seed``, stratified on the
    target for classification (:mod:`.split`). ``key`` names the column(s)
    that identify a row, checked for duplicates. ``contract`` (a
    :class:`Contract` or a YAML path) replaces the stored one; ``policy`` and
    ``checks`` override the contract's policies (``fail``, ``warn``,
    ``quarantine``).
    """
    arguments = _Arguments.validate(
        dataset=dataset,
        target=target,
        holdout_fraction=holdout_fraction,
        seed=seed,
        time_column=time_column,
        key=key,
        policy=policy,
        checks=checks,
        chunk_rows=chunk_rows,
    )
    src = _open(
        source, connection=connection, table=table, format=format, options=options, roots=allowed_roots
    )
    store = SnapshotStore(Path(snapshots_dir), dataset)
    in_force = _contract_in_force(store, contract, arguments)
    arguments = arguments.merged_with(in_force, src)

    fingerprint = src.fingerprint()
    if fingerprint is not None:
        remembered = store.remembered(_source_key(fingerprint, src, arguments, in_force))
        if remembered is not None:
            store.point_latest(remembered.version)
            log.info("%s: unchanged since version %s; nothing to do", src.label, remembered.version)
            return remembered

    started = time.monotonic()
    with store.staging() as staging:
        run = _Ingestion(src, staging, arguments, in_force)
        outcome = run.execute(fingerprint=fingerprint, started=started)
        if isinstance(src, FileSource) and not src.unchanged():
            raise SourceError(
                f"{src.label}: the file changed while it was being ingested; expected it to stay the same "
                "(write new data under a temporary name and rename it into place)",
                source=src.label,
            )
        snapshot, created = store.commit(staging, outcome.version)

    if in_force is None and store.stored_contract() is None:
        save_contract(outcome.contract, store.contract_path)
    store.point_latest(snapshot.version)
    if fingerprint is not None:
        store.remember(_source_key(fingerprint, src, arguments, outcome.contract), snapshot.version)
    log.info(
        "%s: dataset %s version %s (%s): %d training rows, %d holdout rows, %d quarantined, %.1f s",
        src.label,
        dataset,
        snapshot.version,
        "new" if created else "identical to an existing version",
        snapshot.n_train,
        snapshot.n_holdout,
        outcome.n_quarantined,
        time.monotonic() - started,
    )
    return snapshot


def ingest_csv(
    source: str | os.PathLike[str],
    *,
    dataset: str,
    target: str,
    snapshots_dir: str | os.PathLike[str],
    holdout_fraction: float = 0.2,
    seed: int = 0,
    time_column: str | None = None,
) -> Snapshot:
    """:func:`ingest` for a CSV file (kept for callers of the first version of this package)."""
    return ingest(
        source,
        dataset=dataset,
        target=target,
        snapshots_dir=snapshots_dir,
        holdout_fraction=holdout_fraction,
        seed=seed,
        time_column=time_column,
        format="csv",
    )


# --- arguments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Arguments:
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
    def validate(cls, **values: Any) -> _Arguments:
        from airflow_mlops.datasets.snapshot import check_name

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

    def merged_with(self, contract: Contract | None, source: Source) -> _Arguments:
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
        return _Arguments(
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


def _open(
    source: Any,
    *,
    connection: Any,
    table: str | None,
    format: str | None,
    options: Mapping[str, Any] | None,
    roots: Sequence[str | os.PathLike[str]] | None,
) -> Source:
    if connection is not None or table is not None:
        if connection is None:
            raise ValueError(f"table {table!r} needs a connection (a SQLAlchemy URL or engine)")
        if format not in (None, "sql") or options:
            raise ValueError("format and options apply to files; a SQL source takes a query or a table")
        if table is not None and source:
            raise ValueError(f"give a query or a table, not both (query {source!r}, table {table!r})")
        return SqlSource(connection, query=None if table is not None else source, table=table)
    if source is None:
        raise ValueError(
            "source is required: a path, URL, ObjectStoragePath, Source, or a query with a connection"
        )
    return open_source(source, format=format, options=options, allowed_roots=roots)


def _contract_in_force(
    store: SnapshotStore, contract: Contract | str | os.PathLike[str] | None, arguments: _Arguments
) -> Contract | None:
    if contract is None:
        return store.stored_contract()
    loaded = contract if isinstance(contract, Contract) else load_contract(contract)
    if loaded.dataset != arguments.dataset:
        raise ValueError(
            f"{loaded.describe()} is for dataset {loaded.dataset!r}, not {arguments.dataset!r}; expected the "
            "contract of the dataset being ingested"
        )
    return loaded


def _source_key(fingerprint: str, source: Source, arguments: _Arguments, contract: Contract | None) -> str:
    """What decides a snapshot besides the data: reader settings, split, key, contract, policies."""
    described = source.describe()
    settings = {
        "snapshot_format": SNAPSHOT_FORMAT,
        "fingerprint": fingerprint,
        "format": described.get("format"),
        "options": described.get("options"),
        "split": arguments.split_params(),
        "key": list(arguments.key),
        "policy": arguments.policy,
        "checks": dict(arguments.checks or {}),
        "contract": contract.digest() if contract is not None else None,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:32]


# --- one ingestion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    version: str
    contract: Contract
    n_quarantined: int


class _Ingestion:
    """The state of one streaming pass over a source into a staging directory."""

    def __init__(
        self, source: Source, staging: Path, arguments: _Arguments, contract: Contract | None
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
        self.stratify = False
        self.classes: dict[str, int] = {}
        self.class_counts: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.holdout_counts: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.track_classes = False
        self.keys = KeyIndex()

    # --- planning ------------------------------------------------------------------------------

    def _plan(self, first: pa.Table) -> None:
        names = list(first.column_names)
        target = self.args.target
        label = self.source.label
        if target not in names:
            raise DataValidationError(
                f"{label}: target column {target!r} not found; columns found: {names}{_delimiter_hint(names)}",
                source=label,
                check="target",
                column=target,
            )
        if names == [target]:
            raise DataValidationError(
                f"{label}: the only column is the target {target!r}; expected feature columns besides it"
                f"{_delimiter_hint(names)}",
                source=label,
                check="target",
            )
        time_column = self.args.time_column
        if time_column is not None and time_column not in names:
            raise DataValidationError(
                f"{label}: time column {time_column!r} not found; columns found: {names}",
                source=label,
                check="time_column",
                column=time_column,
            )
        missing_key = [k for k in self.args.key if k not in names]
        if missing_key:
            raise DataValidationError(
                f"{label}: key column(s) {missing_key} not found; columns found: {names}",
                source=label,
                check="key",
                column=missing_key[0],
            )

        contract = self.contract_in_force
        policies = contract or Contract(
            dataset=self.args.dataset,
            target=target,
            columns=tuple(ColumnContract(n, "text") for n in names),
            origin="first-ingestion",
        )
        policies = policies.with_policies(self.args.policy, self.args.checks)
        self.policies = policies
        self.enforcer = Enforcer(self.source, policies, self.staging / QUARANTINE_FILE, names)

        planned_names = list(names)
        if contract is not None:
            for name in contract.names:
                if name not in names:
                    self.enforcer.dataset_issue(
                        "missing_column",
                        name,
                        f"column {name!r} of the contract is missing; columns found: {names}; expected every "
                        f"contract column: {contract.names}",
                    )
            for name in names:
                if contract.column(name) is None:
                    self.enforcer.dataset_issue(
                        "extra_column",
                        name,
                        f"column {name!r} is not in the contract; expected only the contract columns "
                        f"{contract.names} (add it to the contract, or drop it from the source)",
                    )

        plans: list[ColumnPlan] = []
        for name in planned_names:
            plans.append(self._plan_column(name, first.column(name), contract))
        self.plans = plans
        self.schema = pa.schema([pa.field(p.name, p.type.arrow_type) for p in plans])
        self.digest = ContentDigest(self.schema)
        self.profiler = Profiler({p.name: p.type for p in plans}, seed=self.args.seed)
        target_plan = self._plan_of(target)
        if contract is not None and contract.task is not None:
            classification = contract.task in ("binary", "multiclass")
        else:
            classification = _looks_like_classes(
                target_plan.type, coerce(first.column(target), target_plan.type).values
            )
        self.track_classes = classification
        self.stratify = classification and time_column is None
        self.contract_classes = (
            frozenset(contract.classes) if contract is not None and contract.classes is not None else None
        )
        if time_column is not None:
            self.time_split = TimeSplit(self.args.holdout_fraction)
            self.all_rows = PartWriter(self.staging / "all.parquet", self.schema)
        else:
            self.splitter = StratifiedSplit(self.args.holdout_fraction, self.args.seed)
            self.train = PartWriter(self.staging / TRAIN_FILE, self.schema)
            self.holdout = PartWriter(self.staging / HOLDOUT_FILE, self.schema)

    def _plan_column(self, name: str, column: pa.ChunkedArray, contract: Contract | None) -> ColumnPlan:
        assert self.enforcer is not None
        roles: set[Role] = set()
        if name == self.args.target:
            roles.add("target")
        if name in self.args.key:
            roles.add("key")
        if name == self.args.time_column:
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
                warned = self.enforcer.dataset_issue(
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

    def _plan_of(self, name: str) -> ColumnPlan:
        assert self.plans is not None
        return next(p for p in self.plans if p.name == name)

    # --- the pass ------------------------------------------------------------------------------

    def execute(self, *, fingerprint: str | None, started: float) -> _Outcome:
        for chunk in self.source.chunks(self.args.chunk_rows):
            if self.plans is None:
                self._plan(chunk.table)
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
        codes = self._class_codes(typed.column(self.args.target))
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
        if self.track_classes:
            self._count_holdout(codes[holdout])
        self.train.write(typed.filter(pa.array(~holdout)))
        self.holdout.write(typed.filter(pa.array(holdout)))

    def _class_codes(self, target: pa.ChunkedArray) -> npt.NDArray[np.int64]:
        """Global class index per row (-1 for a missing target), counting classes as they appear."""
        n = len(target)
        if not self.track_classes:
            return np.full(n, -1, dtype=np.int64)
        values = target.combine_chunks()
        unique = pc.unique(values.drop_null())
        mapping = np.empty(len(unique), dtype=np.int64)
        for position, value in enumerate(unique.to_pylist()):
            label = class_label(value)
            if label not in self.classes:
                self.classes[label] = len(self.classes)
            mapping[position] = self.classes[label]
        if len(self.classes) > MAX_STRATA:
            plan = self._plan_of(self.args.target)
            if plan.type.logical == "numeric":
                self.track_classes = self.stratify = False  # many distinct numbers: a regression target
                self.classes.clear()
                return np.full(n, -1, dtype=np.int64)
            raise DataValidationError(
                f"{self.source.label}: target column {self.args.target!r} has more than {MAX_STRATA} distinct "
                f"values (e.g. {list(self.classes)[:3]}); expected class labels (at most {MAX_STRATA}) or a "
                "numeric target",
                source=self.source.label,
                check="target",
                column=self.args.target,
            )
        local = pc.fill_null(pc.index_in(values, value_set=unique), -1).to_numpy(zero_copy_only=False)
        codes = np.where(local >= 0, mapping[np.maximum(local, 0)] if len(mapping) else -1, -1).astype(
            np.int64
        )
        size = len(self.classes)
        if len(self.class_counts) < size:
            self.class_counts = np.concatenate(
                [self.class_counts, np.zeros(size - len(self.class_counts), np.int64)]
            )
        present = codes[codes >= 0]
        self.class_counts += np.bincount(present, minlength=size)[:size]
        return codes

    def _count_holdout(self, codes: npt.NDArray[np.int64]) -> None:
        size = len(self.classes)
        if len(self.holdout_counts) < size:
            self.holdout_counts = np.concatenate(
                [self.holdout_counts, np.zeros(size - len(self.holdout_counts), np.int64)]
            )
        present = codes[codes >= 0]
        self.holdout_counts += np.bincount(present, minlength=size)[:size]

    # --- finishing -----------------------------------------------------------------------------

    def _finish(self, fingerprint: str | None, started: float) -> _Outcome:
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
        if self.contract_classes is not None and self.track_classes:
            vanished = sorted(set(self.contract_classes) - set(self.classes))
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
        contract = self._resulting_contract(task, columns_profile)
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
        return _Outcome(version=version, contract=contract, n_quarantined=quarantine.rows)

    def _check_target(self, n: int) -> TaskType:
        label = self.source.label
        target = self.args.target
        if self.track_classes:
            seen = [c for c, i in self.classes.items() if self.class_counts[i] > 0]
            if len(seen) < 2:
                only = seen[0] if seen else None
                raise DataValidationError(
                    f"{label}: target column {target!r} has a single class {only!r} in all {n} rows; expected at "
                    "least two classes to learn from",
                    source=label,
                    check="target",
                    column=target,
                )
            return "binary" if len(seen) == 2 else "multiclass"
        if self.profiler.distinct_count(target) < 2:
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
            if self.track_classes:
                self._count_holdout(self._codes_of(held_rows.column(self.args.target)))
            self.train.write(part.filter(pa.array(~held)))
            self.holdout.write(held_rows)
        self.train.close()
        self.holdout.close()
        self.all_rows.path.unlink()

    def _codes_of(self, target: pa.ChunkedArray) -> npt.NDArray[np.int64]:
        labels = [class_label(v) for v in target.to_pylist() if v is not None]
        return np.asarray([self.classes[label] for label in labels if label in self.classes], dtype=np.int64)

    def _target_profile(self, task: TaskType) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.args.target,
            "task": task,
            "task_hint": "regression" if task == "regression" else "classification",
        }
        if task != "regression":
            order = sorted(self.classes, key=lambda c: (-int(self.class_counts[self.classes[c]]), c))
            holdout = np.zeros(len(self.classes), dtype=np.int64)
            holdout[: len(self.holdout_counts)] = self.holdout_counts
            out["distribution"] = {c: int(self.class_counts[self.classes[c]]) for c in order}
            out["distribution_holdout"] = {c: int(holdout[self.classes[c]]) for c in order}
        return out

    def _resulting_contract(self, task: TaskType, columns: Mapping[str, Mapping[str, Any]]) -> Contract:
        """The contract in force, or for a first ingestion the one inferred from this data."""
        if self.contract_in_force is not None:
            return self.contract_in_force
        assert self.plans is not None
        specs = []
        for plan in self.plans:
            entry = columns[plan.name]
            non_negative = (
                plan.type.logical == "numeric" and entry.get("min") is not None and entry["min"] >= 0
            )
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
        classes = None
        if task != "regression":
            classes = tuple(sorted(c for c, i in self.classes.items() if self.class_counts[i] > 0))
        return Contract(
            dataset=self.args.dataset,
            target=self.args.target,
            columns=tuple(specs),
            task=task,
            classes=classes,
            key=self.args.key,
            time_column=self.args.time_column,
            policy=self.policies.policy,
            checks=dict(self.policies.checks),
            origin="inferred",
        )


def _looks_like_classes(column_type: ColumnType, values: pa.Array) -> bool:
    """Few distinct whole numbers, booleans or labels: a classification target (a guess from the first chunk)."""
    if column_type.logical != "numeric":
        return True
    present = values.drop_null()
    if len(present) == 0:
        return False
    numbers = np.asarray(pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    whole = bool(np.all(np.isfinite(numbers) & (np.floor(numbers) == numbers)))
    return whole and int(pc.count_distinct(present).as_py()) <= MAX_CLASSES


def _delimiter_hint(names: Sequence[str]) -> str:
    if len(names) == 1:
        found = [d for d in DELIMITERS if d in names[0]]
        if found:
            return (
                f" (the header is a single column containing {found[0]!r}: is the delimiter right? pass "
                f"options={{'delimiter': {found[0]!r}}})"
            )
    return ""
