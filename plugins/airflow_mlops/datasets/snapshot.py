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
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from airflow_mlops.datasets.contract import CONTRACT_FILE, Contract, load_contract
from airflow_mlops.datasets.errors import SnapshotNotFoundError

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
    """A handle on one immutable snapshot; frames are read lazily from disk."""

    dataset: str
    version: str
    path: Path
    target: str
    n_train: int
    n_holdout: int

    def train_frame(self) -> pd.DataFrame:
        return pq.read_table(self.path / TRAIN_FILE).to_pandas()

    def holdout_frame(self) -> pd.DataFrame:
        return pq.read_table(self.path / HOLDOUT_FILE).to_pandas()

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
        return pq.read_table(path).to_pandas()


def check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(
            f"{what} must be 1-128 characters of letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (it becomes a directory name); got {value!r}"
        )


def load_snapshot(snapshots_dir: Path, dataset: str, version: str | None = None) -> Snapshot:
    """Open a snapshot by version, or the one ``LATEST`` points to when ``version`` is None."""
    check_name(dataset, "dataset")
    root = Path(snapshots_dir)
    dataset_dir = root / dataset
    if not dataset_dir.is_dir():
        found = []
        if root.is_dir():
            found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        raise SnapshotNotFoundError(
            f"no snapshots of dataset {dataset!r} under {root}; datasets found: {found or 'none'}"
        )
    versions = list_snapshot_versions(root, dataset)
    if version is None:
        version = read_latest(dataset_dir)
        if version is None:
            raise SnapshotNotFoundError(
                f"dataset {dataset!r} under {root} has no {LATEST_FILE} pointer; "
                f"versions found: {versions or 'none'}; pass one explicitly"
            )
    final = dataset_dir / version
    if not _NAME_RE.match(version) or not (final / META_FILE).is_file():
        raise SnapshotNotFoundError(
            f"no snapshot version {version!r} of dataset {dataset!r} under {root}; "
            f"versions found: {versions or 'none'} (latest: {read_latest(dataset_dir)})"
        )
    return snapshot_from_dir(final)


def list_snapshot_versions(snapshots_dir: Path, dataset: str) -> list[str]:
    """Complete versions of ``dataset``, oldest first (by ``created_at``)."""
    dataset_dir = Path(snapshots_dir) / dataset
    if not dataset_dir.is_dir():
        return []
    found: list[tuple[str, str]] = []
    for entry in dataset_dir.iterdir():
        if entry.name.startswith(".") or not (entry / META_FILE).is_file():
            continue
        created = str(read_json(entry / META_FILE).get("created_at", ""))
        found.append((created, entry.name))
    return [name for _, name in sorted(found)]


def snapshot_from_dir(path: Path) -> Snapshot:
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
    """One dataset's directory: versions, ``LATEST``, the inferred contract, the source index."""

    def __init__(self, snapshots_dir: Path, dataset: str) -> None:
        check_name(dataset, "dataset")
        self.root = Path(snapshots_dir)
        self.dataset = dataset
        self.dir = self.root / dataset

    def existing(self, version: str) -> Snapshot | None:
        final = self.dir / version
        return snapshot_from_dir(final) if (final / META_FILE).is_file() else None

    def latest(self) -> str | None:
        return read_latest(self.dir)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh staging directory, removed on any error (and after a successful commit)."""
        staging_root = self.root / STAGING_DIR
        staging_root.mkdir(parents=True, exist_ok=True)
        path = staging_root / f"{self.dataset}-{uuid.uuid4().hex}"
        path.mkdir()
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

    def point_latest(self, version: str) -> None:
        if read_latest(self.dir) == version:
            return
        tmp = self.dir / f".{LATEST_FILE}-{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_text(version + "\n", encoding="utf-8")
            os.replace(tmp, self.dir / LATEST_FILE)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @property
    def contract_path(self) -> Path:
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
        directory = self.dir / SOURCES_DIR
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{key}-{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_text(version + "\n", encoding="utf-8")
            os.replace(tmp, directory / key)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


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


def read_latest(dataset_dir: Path) -> str | None:
    try:
        value = (dataset_dir / LATEST_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
