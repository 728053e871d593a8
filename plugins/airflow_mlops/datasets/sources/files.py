"""A file read through fsspec: existence, encoding, a fingerprint pass, and a counted byte stream.

Files (optionally compressed: ``.gz``, ``.bz2``, ``.xz``, ``.zst``) are opened
through fsspec, so a local path, a ``file://`` URL, any fsspec URL (``s3://``,
``gs://``, ``memory://`` ...) and Airflow's ``ObjectStoragePath`` all work;
which one is decided by :func:`~airflow_mlops.datasets.sources.registry.open_source`.
Each format's reader subclasses :class:`FileSource` and parses the bytes.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import fsspec

from airflow_mlops.datasets.errors import DataValidationError, SourceError
from airflow_mlops.datasets.sources.base import Source
from airflow_mlops.datasets.sources.encoding import DETECT_BYTES, detect_encoding

#: Bytes read at a time by the fingerprint pass (and characters by the JSON reader).
READ_BLOCK = 8 << 20


class FileSource(Source):
    """A file read through fsspec; subclasses parse one format."""

    extensions: ClassVar[tuple[str, ...]] = ()
    option_names: ClassVar[tuple[str, ...]] = ()
    text: ClassVar[bool] = False

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        path: str,
        *,
        label: str,
        options: Mapping[str, Any] | None = None,
        compression: str | None = None,
    ) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            raise ValueError(
                f"{label}: unknown option(s) {unknown} for format {self.format!r}; "
                f"valid options: {list(self.option_names) or 'none'}"
            )
        self.fs = fs
        self.path = path
        self.label = label
        self.options = options
        self.compression = compression
        self._size: int | None = None
        self._read = 0
        self._ukey: str | None = None
        self._detected_encoding: str | None = None
        self._detected_by: str | None = None

    # --- opening -------------------------------------------------------------------------------

    def check_exists(self) -> None:
        try:
            info = self.fs.info(self.path)
        except FileNotFoundError:
            raise SourceError(
                f"{self.label}: file does not exist; expected a {self.format.upper()} file", source=self.label
            ) from None
        if info.get("type") != "file":
            raise SourceError(
                f"{self.label}: is not a regular file ({info.get('type')}); expected a {self.format.upper()} file",
                source=self.label,
            )
        self._size = int(info.get("size") or 0)

    def open_binary(self, gate: ReadAheadGate | None = None) -> io.BufferedReader:
        """The decompressed bytes, counted for progress, optionally gated (see :class:`ReadAheadGate`)."""
        raw = _Counting(self.fs.open(self.path, "rb", compression=self.compression), self, gate)
        return io.BufferedReader(raw, buffer_size=1 << 20)

    def progress(self) -> float | None:
        if not self._size or self.compression:
            return None
        return min(self._read / self._size, 1.0)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update({"uri": self.label, "bytes": self._size, "options": dict(self.options)})
        if self.compression:
            out["compression"] = self.compression
        if self.text and (self._detected_encoding or self.options.get("encoding")):
            out["encoding"] = {"name": self.encoding, "by": self._encoding_origin()}
        return out

    @property
    def encoding(self) -> str:
        """The ``encoding`` option, else the one detected (:mod:`.encoding`), else UTF-8."""
        configured = self.options.get("encoding")
        if configured:
            return str(configured)
        return self._detected_encoding or "utf-8"

    def _encoding_origin(self) -> str:
        """How the encoding was decided: ``option``, or what detected it (``bom``, ``utf-8``, ``detector``)."""
        return "option" if self.options.get("encoding") else self._detected_by or "utf-8"

    def _detect_encoding(self) -> None:
        """Detect the encoding from the first :data:`DETECT_BYTES`; refuse bytes that no encoding explains."""
        if not self.text or self._detected_encoding is not None or self.options.get("encoding"):
            return
        with self.fs.open(self.path, "rb", compression=self.compression) as handle:
            sample = handle.read(DETECT_BYTES)
            complete = not handle.read(1)
        detected = detect_encoding(sample, complete=complete)
        if detected is None:
            # Read as UTF-8 from here on, so the error can name the line and column it is about.
            self._detected_encoding, self._detected_by = "utf-8", "utf-8"
            trimmed = sample[: sample.rfind(b"\n") + 1] if b"\n" in sample and not complete else sample
            try:
                trimmed.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = trimmed.count(b"\n", 0, exc.start) + 1
                raise self._encoding_error(
                    exc.start, line, trimmed[exc.start : exc.end], refused=True
                ) from None
            raise self._encoding_error(0, 1, b"", refused=True)  # not reached: a UTF-8 sample is UTF-8
        self._detected_encoding, self._detected_by = detected.encoding, detected.by

    def fingerprint(self) -> str:
        """sha256 of the (decompressed) bytes; also refuses empty files and, for text, bytes not in its encoding.

        One sequential pass, about a second per gigabyte: cheap next to parsing,
        and it lets an identical re-ingest return before parsing anything.
        """
        self.check_exists()
        self._ukey = self._unique_key()
        self._detect_encoding()
        digest = hashlib.sha256()
        total = 0
        content = False
        newlines = 0
        # Every text encoding but UTF-16's is checked here, where a bad byte's line is known
        # (ASCII-compatible: a newline byte is a newline); UTF-16 is checked while it is parsed.
        codec = codecs.lookup(self.encoding).name
        validate = self.text and not codec.startswith(("utf-16", "utf-32"))
        decoder = codecs.getincrementaldecoder(codec)("strict") if validate else None
        with self.fs.open(self.path, "rb", compression=self.compression) as handle:
            first = True
            while True:
                block = handle.read(READ_BLOCK)
                if not block:
                    break
                if first and block.startswith(codecs.BOM_UTF8):
                    block_for_text = block[len(codecs.BOM_UTF8) :]
                else:
                    block_for_text = block
                first = False
                digest.update(block)
                if decoder is not None:
                    try:
                        decoder.decode(block_for_text)
                    except UnicodeDecodeError as exc:
                        offset = total + exc.start + (len(block) - len(block_for_text))
                        line = newlines + block_for_text.count(b"\n", 0, exc.start) + 1
                        raise self._encoding_error(
                            offset, line, block_for_text[exc.start : exc.end]
                        ) from None
                    newlines += block_for_text.count(b"\n")
                content = content or bool(block.strip()) if self.text else content or bool(block)
                total += len(block)
        if decoder is not None:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                raise self._encoding_error(total, newlines + 1, b"") from exc
        if not content:
            raise SourceError(
                f"{self.label}: file is empty ({total} bytes{', whitespace only' if total else ''}); "
                f"expected {self._expected_content()}",
                source=self.label,
                check="empty",
            )
        return digest.hexdigest()

    def unchanged(self) -> bool:
        """Whether the file is still the one fingerprinted (size and modification time or ETag)."""
        return self._ukey is None or self._unique_key() == self._ukey

    def _unique_key(self) -> str | None:
        try:
            return str(self.fs.ukey(self.path))
        except Exception:  # some filesystems cannot tell; then the check is skipped
            return None

    def _expected_content(self) -> str:
        return "data"

    def _encoding_error(
        self, offset: int, line: int, bad: bytes, *, refused: bool = False
    ) -> DataValidationError:
        """The error for ``bad`` bytes; ``refused``: no encoding explains the file's first bytes at all."""
        column = self._column_at_line(line)
        where = f"line {line}" + (f", column {column!r}" if column else "")
        codec = codecs.lookup(self.encoding).name
        name = "UTF-8" if codec == "utf-8" else codec
        expected = (
            f"{name} text in one encoding throughout (pass options={{'encoding': 'latin-1'}} or the file's "
            "actual encoding)"
        )
        if self.options.get("encoding"):
            problem = f"are not valid {self.encoding} (the 'encoding' option)"
            expected = (
                f"{self.encoding} text (pass the file's actual encoding in options={{'encoding': ...}})"
            )
        elif refused:
            problem = "are not valid UTF-8, and no other single encoding explains the file's first bytes"
        else:
            problem = (
                f"are not valid {name}, the encoding detected from the file's first {_size(DETECT_BYTES)}"
            )
        return SourceError(
            f"{self.label}: {where} (byte offset {offset}): bytes {bad!r} {problem}; expected {expected}",
            source=self.label,
            check="encoding",
            column=column,
        )

    def _column_at_line(self, line: int) -> str | None:
        return None

    def _line_text(self, line: int) -> str:
        with self.fs.open(self.path, "rb", compression=self.compression) as handle:
            for number, raw in enumerate(handle, start=1):
                if number == line:
                    return bytes(raw).decode(self.encoding, errors="replace").rstrip("\r\n")
        return ""


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n} bytes"


class ReadAheadGate:
    """Keeps a background reader at most ``limit`` bytes ahead of what has been consumed.

    pyarrow's streaming CSV reader reads up to 32 blocks ahead on an I/O thread
    (not configurable, ARROW-12090): with 16 MiB blocks that is 512 MiB of raw
    text held before it is parsed. The reader's reads wait here until the
    consumer has caught up; the wait has a timeout, so an estimate that is off
    (a block that yields no batch) slows reading down but never stops it.
    """

    def __init__(self, limit: int, timeout: float = 0.5) -> None:
        self._limit = limit
        self._timeout = timeout
        self._read = 0
        self._consumed = 0
        self._open = False
        self._condition = threading.Condition()

    def before_read(self) -> None:
        with self._condition:
            self._condition.wait_for(
                lambda: self._open or self._read - self._consumed < self._limit, timeout=self._timeout
            )

    def read(self, size: int) -> None:
        with self._condition:
            self._read += size

    def consumed(self, size: int) -> None:
        with self._condition:
            self._consumed += size
            self._condition.notify_all()

    def release(self) -> None:
        """Let the reader run freely (the consumer is done or gone)."""
        with self._condition:
            self._open = True
            self._condition.notify_all()


class _Counting(io.RawIOBase):
    """A read-only raw stream over a file that counts the bytes read (progress) and can be gated."""

    def __init__(self, handle: Any, owner: FileSource, gate: ReadAheadGate | None = None) -> None:
        super().__init__()
        self._handle = handle
        self._owner = owner
        self._gate = gate

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._gate is not None:
            self._gate.before_read()
        data = self._handle.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._owner._read += size
        if self._gate is not None:
            self._gate.read(size)
        return size

    def close(self) -> None:
        self._handle.close()
        super().close()
