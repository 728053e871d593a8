"""Immutable, content-addressed snapshots on disk, and the ``LATEST`` pointer.

Everything downstream (AutoML, the registry's lineage, drift baselines) refers
to data by ``(dataset, version)``, so a version must always mean the same rows.

* **Layout.** ``<snapshots>/<dataset>/<version>/`` holds ``train.parquet`` and
  ``holdout.parquet`` (separate files, so training never loads the holdout),
  ``profile.json``, ``meta.json``, the ``contract.yaml`` the data was checked
  against, and ``quarantine.parquet`` when rows were quarantined.
  ``<snapshots>/<dataset>/LATEST`` names the newest version;
  ``<snapshots>/<dataset>/contract.yaml`` is the contract inferred on the
  first ingestion; ``<snapshots>/<dataset>/.sources/`` remembers which raw
  source bytes produced which version, so an identical re-ingest returns
  before parsing.
* **Versions** are the first 16 hex digits of a sha256 over the snapshot's
  rows (column by column, independent of chunking), its schema, the split
  parameters and the quarantined rows: identical data gives the identical
  version whatever file or query it came from.
* **Atomicity.** A snapshot is written in ``<snapshots>/.staging/<uuid>/``,
  outside the dataset's directory, and renamed into place only when complete;
  ``LATEST`` is rewritten through a temporary file and a rename, only after
  the snapshot exists. A failed ingestion therefore leaves the dataset's
  directory exactly as it was.
* **Object storage.** ``<snapshots>`` may be an fsspec URL
  (``s3://bucket/snapshots``, see :mod:`airflow_mlops.storage`). Pointers are
  plain objects, never symbolic links, so the same code serves both. Staging is
  then a local temporary directory: ingestion streams Parquet parts, re-reads
  and deletes an intermediate file for a time split, and quarantines rows as it
  goes, all of which want a real filesystem, and a rename does not exist on an
  object store anyway. :meth:`SnapshotStore.commit` uploads the finished files
  one PUT each with ``meta.json`` last: a version counts as existing only once
  its ``meta.json`` does, so readers never see a half-uploaded snapshot (a
  failed upload removes what it wrote; what it could not remove stays
  invisible and is overwritten by the next attempt). ``LATEST``, the inferred
  contract and the source index are each one PUT of the whole object.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from airflow_mlops.datasets.contract import CONTRACT_FILE, Contract, load_contract
from airflow_mlops.datasets.errors import SnapshotNotFoundError
from airflow_mlops.storage import (
    StoragePath,
    as_storage_path,
    is_local,
    read_parquet,
    upload_file,
    write_bytes_atomic,
)

if TYPE_CHECKING:
    from upath import UPath

SNAPSHOT_FORMAT = 2
"""Part of every version hash; bump it when parsing, typing or splitting changes."""

LATEST_FILE = "LATEST"
TRAIN_FILE = "train.parquet"
HOLDOUT_FILE = "holdout.parquet"
QUARANTINE_FILE = "quarantine.parquet"
PROFILE_FILE = "profile.json"
META_FILE = "meta.json"
STAGING_DIR = ".staging"
SOURCES_DIR = ".sources"
VERSION_LENGTH = 16

#: Rows a snapshot part buffers before writing a Parquet row group (fewer, larger groups read faster).
ROW_GROUP_ROWS = 128 * 1024

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Snapshot:
    """A handle on one immutable snapshot; frames are read lazily from disk or object storage."""

    dataset: str
    version: str
    path: StoragePath
    target: str
    n_train: int
    n_holdout: int

    def train_frame(self) -> pd.DataFrame:
        return read_parquet(self.path / TRAIN_FILE).to_pandas()

    def holdout_frame(self) -> pd.DataFrame:
        return read_parquet(self.path / HOLDOUT_FILE).to_pandas()

    def profile(self) -> dict[str, Any]:
        return read_json(self.path / PROFILE_FILE)

    def meta(self) -> dict[str, Any]:
        return read_json(self.path / META_FILE)

    def contract(self) -> Contract:
        """The contract this snapshot was checked against."""
        return load_contract(
            self.path / CONTRACT_FILE, origin=str(self.meta().get("contract", {}).get("origin"))
        )

    def quarantine_frame(self) -> pd.DataFrame:
        """Quarantined rows with ``_row``, ``_check``, ``_column`` and ``_reason`` (empty if none)."""
        path = self.path / QUARANTINE_FILE
        if not path.exists():
            return pd.DataFrame(columns=["_row", "_check", "_column", "_reason", "_raw"])
        return read_parquet(path).to_pandas()


def check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(
            f"{what} must be 1-128 characters of letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (it becomes a directory name); got {value!r}"
        )


def load_snapshot(
    snapshots_dir: StoragePath | str | os.PathLike[str], dataset: str, version: str | None = None
) -> Snapshot:
    """Open a snapshot by version, or the one ``LATEST`` points to when ``version`` is None.

    The found case reads ``LATEST`` and ``meta.json`` only (a couple of requests
    on object storage); directories are listed only to explain a failure.
    """
    check_name(dataset, "dataset")
    root = as_storage_path(snapshots_dir)
    dataset_dir = root / dataset
    if version is None:
        version = read_latest(dataset_dir)
        if version is None:
            _check_dataset_exists(root, dataset)
            raise SnapshotNotFoundError(
                f"dataset {dataset!r} under {root} has no {LATEST_FILE} pointer; "
                f"versions found: {list_snapshot_versions(root, dataset) or 'none'}; pass one explicitly"
            )
    final = dataset_dir / version
    if not _NAME_RE.match(version) or not (final / META_FILE).is_file():
        _check_dataset_exists(root, dataset)
        raise SnapshotNotFoundError(
            f"no snapshot version {version!r} of dataset {dataset!r} under {root}; "
            f"versions found: {list_snapshot_versions(root, dataset) or 'none'} "
            f"(latest: {read_latest(dataset_dir)})"
        )
    return snapshot_from_dir(final)


def _check_dataset_exists(root: StoragePath, dataset: str) -> None:
    if (root / dataset).is_dir():
        return
    found = []
    if root.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    raise SnapshotNotFoundError(
        f"no snapshots of dataset {dataset!r} under {root}; datasets found: {found or 'none'}"
    )


def list_snapshot_versions(snapshots_dir: StoragePath | str | os.PathLike[str], dataset: str) -> list[str]:
    """Complete versions of ``dataset``, oldest first (by ``created_at``)."""
    dataset_dir = as_storage_path(snapshots_dir) / dataset
    if not dataset_dir.is_dir():
        return []
    found: list[tuple[str, str]] = []
    for entry in dataset_dir.iterdir():
        if entry.name.startswith(".") or not (entry / META_FILE).is_file():
            continue
        created = str(read_json(entry / META_FILE).get("created_at", ""))
        found.append((created, entry.name))
    return [name for _, name in sorted(found)]


def snapshot_from_dir(path: StoragePath) -> Snapshot:
    meta = read_json(path / META_FILE)
    return Snapshot(
        dataset=str(meta["dataset"]),
        version=str(meta["version"]),
        path=path,
        target=str(meta["target"]),
        n_train=int(meta["n_train"]),
        n_holdout=int(meta["n_holdout"]),
    )


class SnapshotStore:
    """One dataset's directory: versions, ``LATEST``, the inferred contract, the source index.

    ``snapshots_dir`` is a local directory or an fsspec URL / UPath; see the
    module docstring for how commits stay atomic on each.
    """

    def __init__(self, snapshots_dir: StoragePath | str | os.PathLike[str], dataset: str) -> None:
        check_name(dataset, "dataset")
        self.root = as_storage_path(snapshots_dir)
        self.dataset = dataset
        self.dir = self.root / dataset

    def existing(self, version: str) -> Snapshot | None:
        final = self.dir / version
        return snapshot_from_dir(final) if (final / META_FILE).is_file() else None

    def latest(self) -> str | None:
        return read_latest(self.dir)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh local staging directory, removed on any error (and after a successful commit).

        Under the snapshots directory when that is local (so the commit is a
        rename on one filesystem); in the system's temporary directory when the
        snapshots live on object storage (the commit uploads from it).
        """
        if is_local(self.root):
            staging_root = self.root / STAGING_DIR
            staging_root.mkdir(parents=True, exist_ok=True)
            path = staging_root / f"{self.dataset}-{uuid.uuid4().hex}"
            path.mkdir()
        else:
            path = Path(tempfile.mkdtemp(prefix=f"mlops-staging-{self.dataset}-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def commit(self, staging: Path, version: str) -> tuple[Snapshot, bool]:
        """Move a complete staging directory to ``<dataset>/<version>``; (snapshot, created?).

        When the version already exists (identical data), the staging copy is
        discarded and nothing in the dataset's directory changes.
        """
        existing = self.existing(version)
        if existing is not None:
            return existing, False
        if not is_local(self.dir):
            return self._upload(staging, self.dir / version), True
        for child in staging.iterdir():
            child.chmod(0o444)  # snapshots are immutable; make accidental edits fail loudly
        created_dir = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / version
        try:
            os.replace(staging, final)
        except OSError:
            if created_dir:
                with contextlib.suppress(OSError):
                    self.dir.rmdir()
            existing = self.existing(version)
            if existing is None:
                raise
            return existing, False  # a concurrent ingest of the same data won the rename
        return snapshot_from_dir(final), True

    def _upload(self, staging: Path, final: UPath) -> Snapshot:
        """Upload the staged files, ``meta.json`` last, so the version appears complete or not at all.

        A concurrent ingest of the same data uploads the same files under the
        same keys; either's ``meta.json`` describes the identical snapshot.
        """
        children = sorted(staging.iterdir(), key=lambda child: (child.name == META_FILE, child.name))
        uploaded: list[UPath] = []
        try:
            for child in children:
                target = final / child.name
                upload_file(child, target)
                uploaded.append(target)
        except BaseException:
            for target in uploaded:
                with contextlib.suppress(Exception):
                    target.unlink()
            raise
        return snapshot_from_dir(final)

    def point_latest(self, version: str) -> None:
        if read_latest(self.dir) == version:
            return
        write_bytes_atomic(self.dir / LATEST_FILE, f"{version}\n".encode())

    @property
    def contract_path(self) -> StoragePath:
        return self.dir / CONTRACT_FILE

    def stored_contract(self) -> Contract | None:
        path = self.contract_path
        return load_contract(path, origin="inferred") if path.is_file() else None

    def remembered(self, key: str) -> Snapshot | None:
        """The snapshot an earlier ingestion of the same raw source (and settings) produced."""
        try:
            version = (self.dir / SOURCES_DIR / key).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return self.existing(version) if _NAME_RE.match(version) else None

    def remember(self, key: str, version: str) -> None:
        write_bytes_atomic(self.dir / SOURCES_DIR / key, f"{version}\n".encode())


class PartWriter:
    """Appends tables to one Parquet file, buffering small chunks into larger row groups."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._buffer.append(table)
        self._buffered += table.num_rows
        self.rows += table.num_rows
        if self._buffered >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self._writer.write_table(pa.concat_tables(self._buffer), row_group_size=max(self._buffered, 1))
        self._buffer, self._buffered = [], 0

    def close(self) -> None:
        self._flush()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)  # an empty part is still a valid file
        self._writer.close()

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()


def read_latest(dataset_dir: StoragePath) -> str | None:
    try:
        value = (dataset_dir / LATEST_FILE).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return value or None


def read_json(path: StoragePath) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
