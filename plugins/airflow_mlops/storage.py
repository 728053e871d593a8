"""Storage roots that are a local directory or an fsspec URL (``s3://bucket/prefix``, ``memory://``).

The prediction log and the dataset snapshots must be readable from every host
once Celery workers and prediction servers run on several machines, so their
roots may live on object storage. The code that reads and writes them sees one
of two kinds of path:

* a plain :class:`pathlib.Path` for a local or shared directory (and for
  ``file://`` URLs): exactly the code and speed of a local-only setup, with
  write-to-a-temporary-name-then-rename for atomicity;
* a :class:`upath.UPath` (universal_pathlib, what Airflow's ``ObjectStoragePath``
  is built on) for any other fsspec protocol. Reads and writes go through the
  protocol's fsspec filesystem (s3fs for ``s3://``, which reads the usual AWS
  variables and ``~/.aws`` files), the same code users run against S3;
  pyarrow gets that filesystem wrapped as ``PyFileSystem(FSSpecHandler(fs))``.

On object stores a rename is a copy plus a delete, so atomic writes are a single
PUT of the complete object instead (:func:`write_bytes_atomic`,
:func:`upload_file`): readers see the whole object or no object, and a failed
write leaves nothing behind. Remote filesystems are opened with
``use_listings_cache=False``: other hosts add files all the time, so a cached
listing would hide them from a long-lived worker.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    # Imported where used: config (so every command) imports this module, and fsspec and
    # pyarrow cost ~0.3 s of start-up that local-only setups should not pay.
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
    from typing_extensions import TypeIs
    from upath import UPath

#: A storage location: a local path, or a UPath over an fsspec filesystem.
StoragePath: TypeAlias = "Path | UPath"

_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_LOCAL_PROTOCOLS = frozenset({"file", "local"})
_EXPECTED = (
    "a local directory (e.g. /data/mlops/snapshots), a file:// URL, or an fsspec URL of an "
    "installed filesystem (e.g. s3://bucket/prefix, memory://prefix)"
)


class StorageRootError(ValueError):
    """A configured storage root is neither a local path nor a usable fsspec URL."""


def storage_root(value: str | os.PathLike[str] | UPath, *, env: str | None = None) -> StoragePath:
    """A :class:`~pathlib.Path` for a local value, a :class:`~upath.UPath` for an fsspec URL.

    ``env`` names the setting the value came from, for the error message when
    the URL's protocol is unknown or its filesystem package is not installed.
    """
    where = f"{env}={str(value)!r}" if env else f"storage root {str(value)!r}"
    if "upath" in sys.modules and isinstance(value, sys.modules["upath"].UPath):  # no UPath without upath
        if value.protocol in _LOCAL_PROTOCOLS or not value.protocol:
            return Path(value.path)
        return value  # the caller's own storage options (endpoint, credentials) are kept
    if isinstance(value, os.PathLike):
        return Path(value)
    text = str(value)
    match = _URL_RE.match(text)
    if match is None:
        return Path(text)
    protocol = match.group(1).lower()
    if protocol in _LOCAL_PROTOCOLS:
        from upath import UPath

        return Path(UPath(text).path)
    return _remote(text, protocol, where)


def _remote(url: str, protocol: str, where: str) -> UPath:
    """Check that fsspec knows ``protocol`` and its package is installed; no connection is made."""
    import fsspec
    from upath import UPath

    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise StorageRootError(f"{where}: unknown protocol {protocol!r}; expected {_EXPECTED}") from None
    except ImportError as exc:
        raise StorageRootError(
            f"{where}: the filesystem for protocol {protocol!r} is not installed ({exc}); expected {_EXPECTED}"
        ) from None
    stripped = url.rstrip("/") if not url.endswith("://") else url
    return UPath(stripped, use_listings_cache=False)


def is_local(path: StoragePath) -> TypeIs[Path]:
    return isinstance(path, Path)


def as_storage_path(value: str | os.PathLike[str] | UPath) -> StoragePath:
    """Like :func:`storage_root` for a path handed in by a caller (no setting to name)."""
    return storage_root(value)


def relative_key(path: StoragePath, root: StoragePath) -> str:
    """``path`` relative to ``root`` as a POSIX string: the same key for a local and a remote root."""
    if is_local(path) and is_local(root):
        return path.relative_to(root).as_posix()
    full, base = _fs_path(path), _fs_path(root).rstrip("/")
    if not full.startswith(base + "/"):
        raise ValueError(f"{path} is not under {root}")
    return full[len(base) + 1 :]


def _fs_path(path: StoragePath) -> str:
    return path.as_posix() if is_local(path) else path.path


# --- writing ----------------------------------------------------------------------------------


def write_bytes_atomic(path: StoragePath, data: bytes) -> None:
    """Write ``data`` so readers see the old content, or none, or all of the new.

    Locally: a hidden temporary file in the same directory, renamed into place.
    On an fsspec filesystem: one ``pipe_file`` of the complete bytes (a single
    PUT on object stores, where a rename would be a non-atomic copy and delete).
    """
    if is_local(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}-{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return
    _with_parent(path, lambda: path.fs.pipe_file(path.path, data))


def upload_file(local: Path, remote: UPath) -> None:
    """Copy a finished local file to ``remote`` in one upload (all or nothing for readers)."""
    _with_parent(remote, lambda: remote.fs.put_file(str(local), remote.path))


#: Protocols of object stores: no directories to create, and fsspec's ``makedirs`` would create a
#: *bucket* there, so a typo in a bucket name must fail the write instead.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})


def _with_parent(path: UPath, write: Callable[[], object]) -> None:
    """Write; on a filesystem with real directories (sftp, hdfs, ...) create missing parents first."""
    try:
        write()
    except FileNotFoundError:
        if path.protocol in _OBJECT_STORES:
            raise  # e.g. the bucket does not exist
        path.fs.makedirs(path.parent.path, exist_ok=True)
        write()


def parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


# --- reading ----------------------------------------------------------------------------------


def arrow_filesystem(path: UPath) -> pafs.FileSystem:
    """pyarrow's view of ``path``'s fsspec filesystem (same credentials, endpoint and options)."""
    import pyarrow.fs as pafs

    return pafs.PyFileSystem(pafs.FSSpecHandler(path.fs))


def parquet_file(
    path: StoragePath, *, text_as_dictionary: Callable[[str], bool] | None = None
) -> pq.ParquetFile:
    """Open a Parquet file; string columns named so that ``text_as_dictionary(name)`` is true
    are read dictionary-encoded (distinct values once, plus an index per row)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def open_file(**options: Any) -> pq.ParquetFile:
        if is_local(path):
            return pq.ParquetFile(path, **options)
        return pq.ParquetFile(path.path, filesystem=arrow_filesystem(path), **options)

    opened = open_file()
    if text_as_dictionary is None:
        return opened
    names = [
        field.name
        for field in opened.schema_arrow
        if (pa.types.is_string(field.type) or pa.types.is_large_string(field.type))
        and text_as_dictionary(field.name)
    ]
    # Reopened with the footer already read: no second read of the metadata.
    return open_file(metadata=opened.metadata, read_dictionary=names) if names else opened


def read_parquet(path: StoragePath) -> pa.Table:
    import pyarrow.parquet as pq

    if is_local(path):
        return pq.read_table(path)
    return pq.read_table(path.path, filesystem=arrow_filesystem(path))


def read_parquet_schema(path: StoragePath) -> pa.Schema:
    import pyarrow.parquet as pq

    if is_local(path):
        return pq.read_schema(path)
    return pq.read_schema(path.path, filesystem=arrow_filesystem(path))
