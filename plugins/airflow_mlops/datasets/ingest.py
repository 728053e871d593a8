"""Turn a CSV into an immutable, versioned training snapshot.

Everything downstream (AutoML, the registry's lineage, drift baselines) refers to
data by ``(dataset, version)``, so a version must always mean the same bytes.
Hence the rules implemented here:

* **Content-addressed versions.** The version is the first 16 hex digits of a
  sha256 over a format tag, the split parameters (target, holdout fraction,
  seed, time column, as sorted JSON) and the *raw CSV bytes*. Hashing the CSV
  rather than the Parquet output keeps versions stable across pyarrow upgrades
  (Parquet bytes embed the writer version) and lets an identical re-ingest be
  recognised before the file is even parsed. Bump :data:`SNAPSHOT_FORMAT` when
  the parsing or split logic changes, so old versions are not silently reused.
* **Layout.** ``<snapshots_dir>/<dataset>/<version>/`` holds ``train.parquet``
  and ``holdout.parquet`` (separate files, so training never has to load or
  filter the holdout and vice versa), ``profile.json`` and ``meta.json``.
  ``<snapshots_dir>/<dataset>/LATEST`` holds the newest version's name.
* **Atomicity.** A snapshot is built in a hidden sibling directory
  (``.tmp-<version>-<uuid>``) and renamed into place; ``LATEST`` is rewritten
  through a temporary file and a rename, only after the snapshot exists. A crash
  therefore leaves at most a hidden temporary directory that readers ignore.
* **Validation first.** Nothing is created on disk until the input is known to
  be usable, and every :class:`DataValidationError` names the file, the column
  and rows involved and what was expected, because the person reading it is
  usually looking at an Airflow task log, not a debugger.

The whole file is read into memory once, so the hash and the parsed frame are
guaranteed to describe the same bytes even if the file is being rewritten. That
is fine for the datasets this foundation targets; chunked sources belong to the
richer ingestion layer that will sit next to this function.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SNAPSHOT_FORMAT = 1
"""Part of every version hash; bump it when parsing or splitting changes."""

LATEST_FILE = "LATEST"
TRAIN_FILE = "train.parquet"
HOLDOUT_FILE = "holdout.parquet"
PROFILE_FILE = "profile.json"
META_FILE = "meta.json"

MAX_CLASSES = 20
"""A target with at most this many distinct values is treated as class labels."""

_VERSION_LENGTH = 16
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_TOP_CATEGORIES = 10
_MAX_ROWS_IN_MESSAGE = 5


class DataValidationError(ValueError):
    """The input cannot become a snapshot; the message says where and why."""


class SnapshotNotFoundError(FileNotFoundError):
    """The requested dataset or version does not exist; the message lists what does."""


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
        return _read_json(self.path / PROFILE_FILE)

    def meta(self) -> dict[str, Any]:
        return _read_json(self.path / META_FILE)


def ingest_csv(
    source: str | Path,
    *,
    dataset: str,
    target: str,
    snapshots_dir: Path,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    time_column: str | None = None,
) -> Snapshot:
    """Validate ``source`` and store it as a snapshot, or return the existing identical one.

    The holdout is the last ``holdout_fraction`` of rows by ``time_column`` when
    one is named (models are judged on the future, as in production); otherwise
    it is drawn with ``seed``, stratified on the target when the target looks
    like class labels (at most :data:`MAX_CLASSES` values, each seen twice), so
    rare classes appear on both sides. Rows keep their file order in each split.
    """
    _check_name(dataset, "dataset")
    if not isinstance(target, str) or not target:
        raise ValueError(f"target must be a non-empty column name, got {target!r}")
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be strictly between 0 and 1, got {holdout_fraction}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")

    path = Path(source).expanduser().absolute()
    raw = _read_source(path)
    params = {
        "format": SNAPSHOT_FORMAT,
        "target": target,
        "holdout_fraction": float(holdout_fraction),
        "seed": int(seed),
        "time_column": time_column,
    }
    digest = _content_hash(raw, params)
    version = digest[:_VERSION_LENGTH]
    dataset_dir = Path(snapshots_dir) / dataset
    final = dataset_dir / version

    if (final / META_FILE).is_file():
        # Same bytes, same parameters: the snapshot already exists and is immutable.
        _point_latest(dataset_dir, version)
        return _snapshot_from_dir(final)

    frame = _parse_csv(path, raw)
    _validate_target(path, frame, target)
    time_values = _parse_time_column(path, frame, time_column) if time_column is not None else None
    if time_column is not None and time_values is not None:
        frame[time_column] = time_values
    if len(frame) < 2:
        raise DataValidationError(
            f"{path}: has {len(frame)} data row; expected at least 2 rows to split into train and holdout"
        )

    task_hint = _task_hint(frame[target])
    holdout_mask, split_method = _split(frame[target], task_hint, holdout_fraction, seed, time_values)
    train = frame.loc[~holdout_mask].reset_index(drop=True)
    holdout = frame.loc[holdout_mask].reset_index(drop=True)

    profile = _profile(frame, target, task_hint, n_train=len(train), n_holdout=len(holdout))
    meta = {
        "format": SNAPSHOT_FORMAT,
        "dataset": dataset,
        "version": version,
        "content_sha256": digest,
        "source": str(path),
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "source_bytes": len(raw),
        "target": target,
        "task_hint": task_hint,
        "time_column": time_column,
        "holdout_fraction": float(holdout_fraction),
        "seed": int(seed),
        "split_method": split_method,
        "created_at": datetime.now(UTC).isoformat(),
        "n_rows": len(frame),
        "n_train": len(train),
        "n_holdout": len(holdout),
        "columns": [{"name": str(name), "dtype": str(dtype)} for name, dtype in frame.dtypes.items()],
        "files": {"train": TRAIN_FILE, "holdout": HOLDOUT_FILE, "profile": PROFILE_FILE},
    }
    _write_snapshot(dataset_dir, version, train, holdout, profile, meta)
    _point_latest(dataset_dir, version)
    return _snapshot_from_dir(final)


def load_snapshot(snapshots_dir: Path, dataset: str, version: str | None = None) -> Snapshot:
    """Open a snapshot by version, or the one ``LATEST`` points to when ``version`` is None."""
    _check_name(dataset, "dataset")
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
        version = _read_latest(dataset_dir)
        if version is None:
            raise SnapshotNotFoundError(
                f"dataset {dataset!r} under {root} has no {LATEST_FILE} pointer; "
                f"versions found: {versions or 'none'}; pass one explicitly"
            )
    final = dataset_dir / version
    if not _check_version_name(version) or not (final / META_FILE).is_file():
        raise SnapshotNotFoundError(
            f"no snapshot version {version!r} of dataset {dataset!r} under {root}; "
            f"versions found: {versions or 'none'} (latest: {_read_latest(dataset_dir)})"
        )
    return _snapshot_from_dir(final)


def list_snapshot_versions(snapshots_dir: Path, dataset: str) -> list[str]:
    """Complete versions of ``dataset``, oldest first (by ``created_at``)."""
    dataset_dir = Path(snapshots_dir) / dataset
    if not dataset_dir.is_dir():
        return []
    found: list[tuple[str, str]] = []
    for entry in dataset_dir.iterdir():
        if entry.name.startswith(".") or not (entry / META_FILE).is_file():
            continue
        created = str(_read_json(entry / META_FILE).get("created_at", ""))
        found.append((created, entry.name))
    return [name for _, name in sorted(found)]


# --- reading and validating -------------------------------------------------------------------


def _check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(
            f"{what} must be 1-128 characters of letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (it becomes a directory name); got {value!r}"
        )


def _check_version_name(version: str) -> bool:
    return bool(_NAME_RE.match(version))


def _read_source(path: Path) -> bytes:
    if not path.exists():
        raise DataValidationError(f"{path}: file does not exist; expected a CSV file")
    if not path.is_file():
        raise DataValidationError(f"{path}: is not a regular file; expected a CSV file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataValidationError(
            f"{path}: file is empty ({len(raw)} bytes); expected a header row and at least one data row"
        )
    return raw


def _content_hash(raw: bytes, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(b"airflow-mlops/snapshot\n")
    digest.update(json.dumps(params, sort_keys=True).encode())
    digest.update(b"\n")
    digest.update(raw)
    return digest.hexdigest()


def _parse_csv(path: Path, raw: bytes) -> pd.DataFrame:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"{path}: is not valid UTF-8 (bad byte at offset {exc.start}); expected a UTF-8 encoded CSV"
        ) from exc

    header = _read_header(text)
    blank = [i + 1 for i, name in enumerate(header) if not name.strip()]
    if blank:
        raise DataValidationError(
            f"{path}: header has unnamed column(s) at position(s) {blank}; expected every column to have "
            "a name (a leading unnamed column is usually a saved DataFrame index: write with index=False)"
        )
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        positions.setdefault(name, []).append(i + 1)
    duplicates = {name: where for name, where in positions.items() if len(where) > 1}
    if duplicates:
        listed = "; ".join(f"{name!r} at positions {where}" for name, where in duplicates.items())
        raise DataValidationError(
            f"{path}: duplicate column names in header: {listed}; expected unique names"
        )

    try:
        with warnings.catch_warnings():
            # With index_col=False pandas only *warns* when a row has more fields than
            # the header, then drops the extra values; losing data must be an error.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), index_col=False, low_memory=False)
    except (pd.errors.ParserWarning, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        row = _first_long_row(text, len(header))
        if row is not None:
            raise DataValidationError(
                f"{path}: data row {row} has more fields than the {len(header)} header columns; "
                "expected every row to match the header"
            ) from exc
        raise DataValidationError(
            f"{path}: cannot be parsed as CSV ({str(exc).strip()}); expected a well-formed CSV"
        ) from exc

    if len(frame) == 0:
        raise DataValidationError(
            f"{path}: has a header ({len(header)} columns) but no data rows; expected at least one data row"
        )
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read_header(text: str) -> list[str]:
    # pandas skips leading blank lines too, so the header is the first non-empty record.
    for record in csv.reader(io.StringIO(text)):
        if record and any(field.strip() for field in record):
            return record
    return []


def _first_long_row(text: str, width: int) -> int | None:
    records = (r for r in csv.reader(io.StringIO(text)) if r and any(f.strip() for f in r))
    next(records, None)  # header
    for number, record in enumerate(records, start=1):
        if len(record) > width:
            return number
    return None


def _rows(mask: pd.Series) -> str:
    """Human row numbers: 1-based data rows, header excluded, blank lines skipped."""
    numbers = [int(i) + 1 for i in np.flatnonzero(mask.to_numpy())]
    shown = ", ".join(str(n) for n in numbers[:_MAX_ROWS_IN_MESSAGE])
    more = f" and {len(numbers) - _MAX_ROWS_IN_MESSAGE} more" if len(numbers) > _MAX_ROWS_IN_MESSAGE else ""
    return f"data row{'s' if len(numbers) > 1 else ''} {shown}{more}"


def _validate_target(path: Path, frame: pd.DataFrame, target: str) -> None:
    if target not in frame.columns:
        raise DataValidationError(
            f"{path}: target column {target!r} not found; columns found: {list(frame.columns)}"
        )
    values = frame[target]
    missing = values.isna()
    if missing.all():
        raise DataValidationError(
            f"{path}: target column {target!r} is empty in all {len(frame)} rows; expected labels"
        )
    if missing.any():
        raise DataValidationError(
            f"{path}: target column {target!r} is empty in {_rows(missing)}; expected a label in every row"
        )
    distinct = values.nunique()
    if distinct < 2:
        raise DataValidationError(
            f"{path}: target column {target!r} has the single value {_scalar(values.iloc[0])!r} in all "
            f"{len(frame)} rows; expected at least two distinct values"
        )


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _parse_time_column(path: Path, frame: pd.DataFrame, time_column: str) -> pd.Series:
    if time_column not in frame.columns:
        raise DataValidationError(
            f"{path}: time column {time_column!r} not found; columns found: {list(frame.columns)}"
        )
    raw = frame[time_column]
    missing = raw.isna()
    if missing.any():
        raise DataValidationError(
            f"{path}: time column {time_column!r} is empty in {_rows(missing)}; "
            "expected a timestamp in every row"
        )
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw  # e.g. epoch seconds or a period number: only the order matters for the split
    try:
        parsed = pd.to_datetime(raw, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(raw, utc=True, format="mixed", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        example = _scalar(raw[bad].iloc[0])
        raise DataValidationError(
            f"{path}: time column {time_column!r} has unparseable values in {_rows(bad)} "
            f"(e.g. {example!r}); expected ISO 8601 timestamps (naive ones are taken as UTC)"
        )
    return parsed


# --- splitting --------------------------------------------------------------------------------


def _task_hint(target: pd.Series) -> str:
    """A guess for downstream defaults, never a constraint: few distinct values mean classes."""
    distinct = target.nunique()
    if pd.api.types.is_float_dtype(target):
        integral = bool(np.all(np.equal(np.mod(target.to_numpy(dtype=float), 1.0), 0.0)))
        return "classification" if integral and distinct <= MAX_CLASSES else "regression"
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        return "classification" if distinct <= MAX_CLASSES else "regression"
    return "classification"


def _split(
    target: pd.Series,
    task_hint: str,
    holdout_fraction: float,
    seed: int,
    time_values: pd.Series | None,
) -> tuple[np.ndarray, str]:
    n = len(target)
    n_holdout = min(max(math.floor(n * holdout_fraction + 0.5), 1), n - 1)
    mask = np.zeros(n, dtype=bool)
    if time_values is not None:
        # Stable sort: rows sharing a timestamp keep file order, so the split is deterministic.
        order = np.argsort(time_values.to_numpy(), kind="stable")
        mask[order[n - n_holdout :]] = True
        return mask, "time"

    rng = np.random.default_rng(seed)
    if task_hint == "classification":
        codes, _ = pd.factorize(target, sort=True)
        counts = np.bincount(codes)
        if counts.min() >= 2:
            allocation = _allocate(counts, n_holdout)
            for label, take in enumerate(allocation):
                members = np.flatnonzero(codes == label)
                mask[rng.permutation(members)[:take]] = True
            if 0 < mask.sum() < n:
                return mask, "stratified"
            mask[:] = False
    mask[rng.permutation(n)[:n_holdout]] = True
    return mask, "random"


def _allocate(counts: np.ndarray, n_holdout: int) -> np.ndarray:
    """Split ``n_holdout`` across classes in proportion (largest remainder), keeping a train row each."""
    ideal = counts * (n_holdout / counts.sum())
    allocation = np.minimum(np.floor(ideal).astype(np.int64), counts - 1)
    short = n_holdout - int(allocation.sum())
    if short > 0:
        for label in np.argsort(-(ideal - allocation), kind="stable"):
            if short == 0:
                break
            if allocation[label] + 1 <= counts[label] - 1:
                allocation[label] += 1
                short -= 1
    return allocation


# --- profiling --------------------------------------------------------------------------------


def _profile(
    frame: pd.DataFrame, target: str, task_hint: str, *, n_train: int, n_holdout: int
) -> dict[str, Any]:
    """Summaries the registry UI and drift baselines need without reloading the data."""
    columns: dict[str, Any] = {}
    for name in frame.columns:
        columns[str(name)] = _profile_column(frame[name])
    target_info: dict[str, Any] = {"name": target, "task_hint": task_hint}
    if task_hint == "classification":
        counts = frame[target].value_counts(sort=True)
        target_info["distribution"] = {str(k): int(v) for k, v in counts.items()}
    return {
        "n_rows": len(frame),
        "n_train": n_train,
        "n_holdout": n_holdout,
        "target": target_info,
        "columns": columns,
    }


def _profile_column(series: pd.Series) -> dict[str, Any]:
    n_missing = int(series.isna().sum())
    entry: dict[str, Any] = {
        "dtype": str(series.dtype),
        "n_missing": n_missing,
        "missing_rate": n_missing / len(series) if len(series) else 0.0,
        "distinct": int(series.nunique(dropna=True)),
    }
    present = series.dropna()
    if pd.api.types.is_bool_dtype(series):
        entry["kind"] = "boolean"
        entry["top"] = _top(present)
    elif pd.api.types.is_numeric_dtype(series):
        entry["kind"] = "numeric"
        values = present.astype(float)
        entry["min"] = _num(values.min()) if len(values) else None
        entry["max"] = _num(values.max()) if len(values) else None
        entry["mean"] = _num(values.mean()) if len(values) else None
        entry["std"] = _num(values.std()) if len(values) > 1 else None
        entry["quantiles"] = (
            {str(q): _num(v) for q, v in values.quantile(list(_QUANTILES)).items()} if len(values) else {}
        )
    elif pd.api.types.is_datetime64_any_dtype(series):
        entry["kind"] = "datetime"
        entry["min"] = present.min().isoformat() if len(present) else None
        entry["max"] = present.max().isoformat() if len(present) else None
    else:
        entry["kind"] = "categorical"
        entry["top"] = _top(present)
    return entry


def _top(values: pd.Series) -> list[dict[str, Any]]:
    counts = values.astype(str).value_counts(sort=True).head(_TOP_CATEGORIES)
    return [{"value": str(k), "count": int(v)} for k, v in counts.items()]


def _num(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


# --- writing ----------------------------------------------------------------------------------


def _write_snapshot(
    dataset_dir: Path,
    version: str,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    profile: dict[str, Any],
    meta: dict[str, Any],
) -> None:
    created_dataset_dir = not dataset_dir.exists()
    dataset_dir.mkdir(parents=True, exist_ok=True)
    final = dataset_dir / version
    staging = dataset_dir / f".tmp-{version}-{uuid.uuid4().hex}"
    try:
        staging.mkdir()
        for frame, name in ((train, TRAIN_FILE), (holdout, HOLDOUT_FILE)):
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), staging / name)
        _write_json(staging / PROFILE_FILE, profile)
        _write_json(staging / META_FILE, meta)
        for child in staging.iterdir():
            child.chmod(0o444)  # snapshots are immutable; make accidental edits fail loudly
        try:
            os.replace(staging, final)
        except OSError:
            if not (final / META_FILE).is_file():
                raise
            # A concurrent ingest of the same content won the rename; its snapshot is identical.
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_dataset_dir:
            with contextlib.suppress(OSError):
                dataset_dir.rmdir()  # only succeeds if nothing else was put there meanwhile
        raise


def _point_latest(dataset_dir: Path, version: str) -> None:
    if _read_latest(dataset_dir) == version:
        return
    tmp = dataset_dir / f".{LATEST_FILE}-{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(tmp, dataset_dir / LATEST_FILE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_latest(dataset_dir: Path) -> str | None:
    try:
        value = (dataset_dir / LATEST_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def _snapshot_from_dir(path: Path) -> Snapshot:
    meta = _read_json(path / META_FILE)
    return Snapshot(
        dataset=str(meta["dataset"]),
        version=str(meta["version"]),
        path=path,
        target=str(meta["target"]),
        n_train=int(meta["n_train"]),
        n_holdout=int(meta["n_holdout"]),
    )


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
