"""The reader registry: which :class:`FileSource` reads a format, and opening a source by path or URL.

A reader joins with :func:`register_format` (a class decorator); its ``format``
name and file extensions then select it. :func:`open_source` turns a local
path, a ``file://`` URL, any fsspec URL or an ``ObjectStoragePath`` into the
reader for it, refusing local paths outside the allowed roots
(:mod:`airflow_mlops.datasets.roots`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import fsspec

from airflow_mlops.datasets.errors import SourceError
from airflow_mlops.datasets.roots import check_allowed
from airflow_mlops.datasets.sources.base import Source
from airflow_mlops.datasets.sources.files import FileSource

COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}

FORMATS: dict[str, type[FileSource]] = {}
EXTENSIONS: dict[str, str] = {}


def register_format(cls: type[FileSource]) -> type[FileSource]:
    """Class decorator: make a reader available by its ``format`` name and file extensions."""
    FORMATS[cls.format] = cls
    for extension in cls.extensions:
        EXTENSIONS[extension] = cls.format
    return cls


def open_source(
    source: Any,
    *,
    format: str | None = None,
    options: Mapping[str, Any] | None = None,
    allowed_roots: Sequence[str | os.PathLike[str]] | None = None,
) -> Source:
    """A :class:`Source` for a path, URL or ``ObjectStoragePath``; a ``Source`` is returned as is.

    ``format`` defaults to the file extension; ``options`` are the reader's
    options (e.g. CSV ``delimiter``, ``encoding``; Excel ``sheet``).
    """
    if isinstance(source, Source):
        return source
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {format!r}")
    if hasattr(source, "fs") and hasattr(source, "path") and not isinstance(source, Path):
        fs, path, label = source.fs, str(source.path), str(source)  # ObjectStoragePath / UPath
        if _is_local(fs):
            path = str(check_allowed(path, allowed_roots))
    elif isinstance(source, Path) or (isinstance(source, str) and "://" not in source):
        if not str(source).strip():
            raise ValueError(
                "source must be a path, a URL or a SQL query with a connection; got an empty string"
            )
        path = str(check_allowed(source, allowed_roots))
        fs, label = fsspec.filesystem("file"), path
    elif isinstance(source, str):
        protocol = source.split("://", 1)[0].lower()
        if protocol in ("file", "local"):
            local = source.split("://", 1)[1]
            path = str(check_allowed(local, allowed_roots))
            fs, label = fsspec.filesystem("file"), source
        else:
            try:
                fs, path = fsspec.core.url_to_fs(source)
            except (ImportError, ValueError) as exc:
                raise SourceError(
                    f"{source}: no filesystem for protocol {protocol!r} ({exc}); expected a local path or an "
                    "fsspec URL whose filesystem is installed (s3fs for s3://, gcsfs for gs://, ...)",
                    source=source,
                ) from exc
            label = source
    else:
        raise TypeError(
            f"source must be a path, URL, ObjectStoragePath or Source, got {type(source).__name__}"
        )

    name = path.rsplit("/", 1)[-1].lower()
    compression = None
    for suffix, codec in COMPRESSIONS.items():
        if name.endswith(suffix):
            compression, name = codec, name[: -len(suffix)]
            break
    if format is None:
        extension = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        format = EXTENSIONS.get(extension)
        if format is None:
            raise SourceError(
                f"{label}: cannot tell the format from the extension {extension or '(none)'!r}; expected one of "
                f"{sorted(EXTENSIONS)} or an explicit format (one of {sorted(FORMATS)})",
                source=label,
            )
    reader = FORMATS[format](fs, path, label=label, options=options, compression=compression)
    return reader


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return bool({"file", "local"} & set(protocol))
