"""Ingestion: any source becomes a validated, immutable, versioned training snapshot.

:func:`ingest` is the one entry point; it ties the parts together in a single
streaming pass with bounded memory:

1. **open** the source (:mod:`.sources`, :mod:`.sql`), refusing local paths
   outside the allowed roots (:mod:`.roots`), after checking the arguments
   (:mod:`.arguments`);
2. **fingerprint** a file source's bytes (a cheap sequential pass that also
   refuses empty files and non-UTF-8 bytes); if the same bytes were already
   ingested with the same settings, return that snapshot without parsing;
3. **plan** the columns from the first chunk and the dataset's contract
   (:mod:`.planning`, :mod:`.contract`): types (:mod:`.schema`),
   missing/extra columns, type changes;
4. for each **chunk** (:mod:`.ingestion`): read values as their types, run the
   row checks (:mod:`.checks`, :mod:`.keys`) and apply each check's policy
   (:mod:`.policies`), then feed the kept rows to the content digest, the
   profile (:mod:`.profile`), the class counts (:mod:`.classes`), the split
   (:mod:`.split`) and the Parquet writers;
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
from typing import Any

from airflow_mlops.datasets.arguments import IngestArguments
from airflow_mlops.datasets.contract import Contract, load_contract, save_contract
from airflow_mlops.datasets.errors import SourceError
from airflow_mlops.datasets.ingestion import Ingestion
from airflow_mlops.datasets.snapshot import SNAPSHOT_FORMAT, Snapshot, SnapshotStore
from airflow_mlops.datasets.sources import DEFAULT_CHUNK_ROWS, FileSource, Source, open_source
from airflow_mlops.datasets.sql import SqlSource
from airflow_mlops.storage import StoragePath

log = logging.getLogger("airflow_mlops.datasets")


def ingest(
    source: Any,
    *,
    dataset: str,
    target: str,
    snapshots_dir: StoragePath | str | os.PathLike[str],
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
    arguments = IngestArguments.validate(
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
    store = SnapshotStore(snapshots_dir, dataset)
    in_force = _contract_in_force(store, contract, arguments)
    arguments = arguments.merged_with(in_force)

    fingerprint = src.fingerprint()
    if fingerprint is not None:
        remembered = store.remembered(_source_key(fingerprint, src, arguments, in_force))
        if remembered is not None:
            store.point_latest(remembered.version)
            log.info("%s: unchanged since version %s; nothing to do", src.label, remembered.version)
            return remembered

    started = time.monotonic()
    with store.staging() as staging:
        run = Ingestion(src, staging, arguments, in_force)
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
    encoding = src.describe().get("encoding")
    log.info(
        "%s: dataset %s version %s (%s): %d training rows, %d holdout rows, %d quarantined, %.1f s%s",
        src.label,
        dataset,
        snapshot.version,
        "new" if created else "identical to an existing version",
        snapshot.n_train,
        snapshot.n_holdout,
        outcome.n_quarantined,
        time.monotonic() - started,
        f", encoding {encoding['name']} ({encoding['by']})" if encoding else "",
    )
    return snapshot


def ingest_csv(
    source: str | os.PathLike[str],
    *,
    dataset: str,
    target: str,
    snapshots_dir: StoragePath | str | os.PathLike[str],
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
    store: SnapshotStore, contract: Contract | str | os.PathLike[str] | None, arguments: IngestArguments
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


def _source_key(
    fingerprint: str, source: Source, arguments: IngestArguments, contract: Contract | None
) -> str:
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
