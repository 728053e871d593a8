"""Where data comes from: a registry of readers by format, each yielding Arrow chunks.

Every reader turns one source into a stream of :class:`Chunk` s, each a
``pyarrow.Table`` of at most a few tens of thousands of rows plus the source's
own row numbers for them (so an error says "data row 70 001", not "row 3 of
chunk 2"), plus the rows it could not even split into columns (ragged CSV
rows, broken JSON lines), which the checks then fail on or quarantine. Nothing
reads a whole source into memory.

Files (CSV, Parquet, JSON, JSON Lines, Excel ``.xlsx``, optionally compressed:
``.gz``, ``.bz2``, ``.xz``, ``.zst``) are opened through fsspec, so a local
path, a ``file://`` URL, any fsspec URL (``s3://``, ``gs://``, ``memory://`` ...)
and Airflow's ``ObjectStoragePath`` (anything with ``.fs`` and ``.path``) all
work; local paths must be under the allowed roots (:mod:`.roots`). SQL sources
live in :mod:`.sql`. Add a format with :func:`register_format`.

Why CSV is read by pyarrow with every column as a string: the types are decided
by this package's own rules (:mod:`.schema`) and a contract, uniformly for all
sources, and a value that does not fit its column becomes a flagged row instead
of an exception that aborts the whole read. pyarrow's reader is single-threaded
here because only then does it report the row number of a ragged row.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from airflow_mlops.datasets.errors import DataValidationError, SourceError
from airflow_mlops.datasets.roots import check_allowed

DEFAULT_CHUNK_ROWS = 65_536
CSV_BLOCK_SIZE = 16 << 20
#: Blocks the CSV reader may read ahead of the one being processed (see :class:`ReadAheadGate`).
READ_AHEAD_BLOCKS = 2
_READ_BLOCK = 8 << 20
_SNIFF_BYTES = 64 << 10
#: What pandas' ``read_csv`` reads as missing; kept identical so nothing changes for users.
NA_VALUES: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}


@dataclass(frozen=True)
class Rejected:
    """A row the reader could not turn into columns, with its raw text and why."""

    row: int | None
    text: str
    reason: str


@dataclass
class Chunk:
    """Consecutive rows of a source: the table, their row numbers, and rows rejected meanwhile."""

    table: pa.Table
    rows: npt.NDArray[np.int64]
    rejected: list[Rejected] = field(default_factory=list)


class Source(ABC):
    """A readable source of rows. ``label`` names it in every message."""

    format: ClassVar[str]
    #: How the source's row numbers read in messages ("data row 12", "line 12", ...).
    row_word: ClassVar[str] = "data row"

    label: str

    @abstractmethod
    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        """The rows, chunk by chunk; columns in source order, the same in every chunk."""

    def fingerprint(self) -> str | None:
        """A digest of the raw content read in a cheap pre-pass, or None if there is none (SQL)."""
        return None

    def describe(self) -> dict[str, Any]:
        """What to record in ``meta.json`` about the source."""
        return {"format": self.format, "source": self.label}

    def progress(self) -> float | None:
        """The share of the source read so far, when known."""
        return None

    def error(self, message: str, **where: Any) -> DataValidationError:
        return DataValidationError(f"{self.label}: {message}", source=self.label, **where)


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
        return out

    @property
    def encoding(self) -> str:
        """The ``encoding`` option, else UTF-16 when the file starts with its byte-order mark, else UTF-8."""
        configured = self.options.get("encoding")
        if configured:
            return str(configured)
        return self._detected_encoding or "utf-8"

    def _detect_encoding(self) -> None:
        if not self.text or self._detected_encoding is not None:
            return
        with self.fs.open(self.path, "rb", compression=self.compression) as handle:
            start = handle.read(4)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self._detected_encoding = "utf-16"
        else:
            self._detected_encoding = "utf-8"

    def fingerprint(self) -> str:
        """sha256 of the (decompressed) bytes; also refuses empty files and, for text, non-UTF-8 bytes.

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
        validate = self.text and codecs.lookup(self.encoding).name == "utf-8"
        decoder = codecs.getincrementaldecoder("utf-8")("strict") if validate else None
        with self.fs.open(self.path, "rb", compression=self.compression) as handle:
            first = True
            while True:
                block = handle.read(_READ_BLOCK)
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

    def _encoding_error(self, offset: int, line: int, bad: bytes) -> DataValidationError:
        column = self._column_at_line(line)
        where = f"line {line}" + (f", column {column!r}" if column else "")
        return SourceError(
            f"{self.label}: {where} (byte offset {offset}): bytes {bad!r} are not valid UTF-8; expected "
            "UTF-8 text (pass options={'encoding': 'latin-1'} or the file's actual encoding if it is not UTF-8)",
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
                    return bytes(raw).decode("utf-8", errors="replace").rstrip("\r\n")
        return ""


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


def rows_text(word: str, rows: Sequence[int] | npt.NDArray[np.int64], limit: int = 5) -> str:
    """``data row 3`` / ``data rows 3, 9, 12 and 40 more``: human row references for messages."""
    numbers = [int(r) for r in rows]
    shown = ", ".join(str(n) for n in numbers[:limit])
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"{word}{'s' if len(numbers) > 1 else ''} {shown}{more}"


# --- CSV ---------------------------------------------------------------------------------------


@register_format
class CsvSource(FileSource):
    """CSV with the delimiter, quote character and encoding detected, or set in ``options``."""

    format = "csv"
    extensions = (".csv", ".tsv", ".txt")
    option_names = (
        "delimiter",
        "quotechar",
        "escapechar",
        "doublequote",
        "encoding",
        "na_values",
        "block_size",
    )
    text = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dialect: dict[str, Any] | None = None
        self._header: list[str] | None = None
        delimiter = self.options.get("delimiter")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ValueError(f"{self.label}: delimiter must be one character, got {delimiter!r}")

    def _expected_content(self) -> str:
        return "a header row and at least one data row"

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self._dialect is not None:
            out["dialect"] = {**self._dialect, "encoding": self.encoding}
        return out

    def _sample(self) -> str:
        with self.fs.open(self.path, "rb", compression=self.compression) as handle:
            raw = handle.read(_SNIFF_BYTES)
        if raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        text = raw.decode(self._python_encoding(), errors="replace")
        if len(raw) == _SNIFF_BYTES and "\n" in text:
            text = text[: text.rfind("\n") + 1]  # whole lines only
        return text

    def _python_encoding(self) -> str:
        return self.encoding

    def prepare(self) -> tuple[list[str], dict[str, Any]]:
        """Detect the dialect (unless set) and read and check the header."""
        if self._header is not None and self._dialect is not None:
            return self._header, self._dialect
        self._detect_encoding()
        sample = self._sample()
        quotechar = self.options.get("quotechar") or _sniff_quotechar(sample)
        delimiter = self.options.get("delimiter")
        scores = {d: _delimiter_score(sample, d, quotechar) for d in DELIMITERS}
        if delimiter is None:
            best = max(DELIMITERS, key=lambda d: scores[d])
            delimiter = best if scores[best][0] else ","
        elif scores.get(delimiter, (False, 0.0, 1))[2] <= 1:
            better = [d for d in DELIMITERS if d != delimiter and scores[d][0]]
            if better:
                guess = max(better, key=lambda d: scores[d])
                header_line = sample.splitlines()[0] if sample.splitlines() else ""
                raise SourceError(
                    f"{self.label}: with delimiter {delimiter!r} the header is a single column "
                    f"{header_line[:80]!r}; the file looks {guess!r}-delimited ({scores[guess][2]} columns in "
                    f"the first rows); expected delimiter {guess!r} (pass options={{'delimiter': {guess!r}}} "
                    "or leave it unset to detect it)",
                    source=self.label,
                    check="delimiter",
                )
        dialect: dict[str, Any] = {
            "delimiter": delimiter,
            "quotechar": quotechar,
            "escapechar": self.options.get("escapechar"),
            "doublequote": bool(self.options.get("doublequote", True)),
        }
        header = _first_record(sample, dialect)
        if not header:
            raise SourceError(
                f"{self.label}: file is empty; expected a header row and at least one data row",
                source=self.label,
                check="empty",
            )
        blank = [i + 1 for i, name in enumerate(header) if not name.strip()]
        if blank:
            raise SourceError(
                f"{self.label}: header has unnamed column(s) at position(s) {blank}; expected every column to "
                "have a name (a leading unnamed column is usually a saved DataFrame index: write with index=False)",
                source=self.label,
                check="header",
            )
        positions: dict[str, list[int]] = {}
        for i, name in enumerate(header):
            positions.setdefault(name, []).append(i + 1)
        duplicates = {name: where for name, where in positions.items() if len(where) > 1}
        if duplicates:
            listed = "; ".join(f"{name!r} at positions {where}" for name, where in duplicates.items())
            raise SourceError(
                f"{self.label}: duplicate column names in header: {listed}; expected unique names",
                source=self.label,
                check="header",
                column=next(iter(duplicates)),
            )
        self._header, self._dialect = header, dialect
        return header, dialect

    def _column_at_line(self, line: int) -> str | None:
        try:
            header, dialect = self.prepare()
        except DataValidationError:
            return None
        if line == 1:
            return None
        record = _first_record(self._line_text(line), dialect)
        for position, value in enumerate(record):
            if "\ufffd" in value and position < len(header):
                return header[position]
        return None

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        header, dialect = self.prepare()
        rejected: list[Rejected] = []
        skipped: list[int] = []

        def on_invalid(row: Any) -> str:
            number = None if row.number is None else int(row.number) - 1  # the header is record 1
            rejected.append(
                Rejected(
                    number,
                    str(row.text),
                    f"has {row.actual_columns} field(s); expected {row.expected_columns} like the header",
                )
            )
            if number is not None:
                skipped.append(number)
            return "skip"

        na_values = list(NA_VALUES) + [str(v) for v in self.options.get("na_values") or ()]
        encoding = self.encoding
        read_options = pacsv.ReadOptions(
            use_threads=False,
            block_size=int(self.options.get("block_size") or CSV_BLOCK_SIZE),
            encoding="utf8" if codecs.lookup(encoding).name == "utf-8" else encoding,
        )
        parse_options = pacsv.ParseOptions(
            delimiter=dialect["delimiter"],
            quote_char=dialect["quotechar"] or False,
            double_quote=dialect["doublequote"],
            escape_char=dialect["escapechar"] or False,
            newlines_in_values=True,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid,
        )
        convert_options = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=na_values,
        )
        delivered = 0
        gate = ReadAheadGate(READ_AHEAD_BLOCKS * read_options.block_size)
        with self.open_binary(gate) as handle:
            try:
                reader = pacsv.open_csv(
                    handle,
                    read_options=read_options,
                    parse_options=parse_options,
                    convert_options=convert_options,
                )
                for batch in reader:
                    gate.consumed(read_options.block_size)  # one batch per block
                    n = batch.num_rows
                    ordinals = np.arange(delivered + 1, delivered + n + 1, dtype=np.int64)
                    rows = _skip_numbers(ordinals, np.asarray(sorted(skipped), dtype=np.int64))
                    delivered += n
                    yield Chunk(pa.Table.from_batches([batch]), rows, _drain(rejected))
            except pa.ArrowInvalid as exc:
                raise self.error(
                    f"cannot be parsed as CSV after data row {delivered} ({str(exc).strip()}); expected "
                    f"well-formed CSV with delimiter {dialect['delimiter']!r} and quote {dialect['quotechar']!r}"
                ) from exc
            finally:
                gate.release()
        if rejected or delivered == 0:
            # Rejected rows after the last batch, or a header without rows: the columns are still known.
            yield Chunk(_empty_table(header), np.zeros(0, dtype=np.int64), _drain(rejected))


def _drain(items: list[Rejected]) -> list[Rejected]:
    out = list(items)
    items.clear()
    return out


def _skip_numbers(ordinals: npt.NDArray[np.int64], skipped: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row numbers of the delivered rows when the (sorted) ``skipped`` numbers were left out.

    The j-th delivered row is number ``j + k`` where ``k`` counts the skipped rows
    before it; ``skipped[i] - (i + 1)`` is how many delivered rows precede skipped row i.
    """
    if len(skipped) == 0:
        return ordinals
    before = skipped - np.arange(1, len(skipped) + 1, dtype=np.int64)
    return ordinals + np.searchsorted(before, ordinals, side="left")


def _empty_table(columns: Sequence[str]) -> pa.Table:
    return pa.table({name: pa.array([], type=pa.string()) for name in columns})


def _first_record(text: str, dialect: Mapping[str, Any]) -> list[str]:
    reader = csv.reader(
        io.StringIO(text),
        delimiter=dialect["delimiter"],
        quotechar=dialect["quotechar"] or '"',
        escapechar=dialect["escapechar"],
        doublequote=dialect["doublequote"],
    )
    try:
        for record in reader:
            if record and any(field.strip() for field in record):
                return record
    except csv.Error:
        return []
    return []


def _delimiter_score(sample: str, delimiter: str, quotechar: str) -> tuple[bool, float, int]:
    """(looks right, share of rows with the header's field count, header field count)."""
    try:
        records = [
            r for r in csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar=quotechar or '"') if r
        ][:200]
    except csv.Error:
        return (False, 0.0, 0)
    if not records:
        return (False, 0.0, 0)
    width = len(records[0])
    consistent = sum(1 for r in records if len(r) == width) / len(records)
    return (width > 1 and consistent >= 0.8, consistent, width)


def _sniff_quotechar(sample: str) -> str:
    try:
        found = csv.Sniffer().sniff(sample[:20_000], delimiters="".join(DELIMITERS)).quotechar
    except csv.Error:
        return '"'
    return found if found in ('"', "'") and sample.count(found) >= 2 else '"'


# --- Parquet -----------------------------------------------------------------------------------


@register_format
class ParquetSource(FileSource):
    """Parquet, read row group by row group in batches."""

    format = "parquet"
    extensions = (".parquet", ".pq")
    row_word = "row"

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        with self.fs.open(self.path, "rb") as handle:
            try:
                parquet = pq.ParquetFile(handle)
            except (pa.ArrowInvalid, OSError) as exc:
                raise self.error(f"is not a readable Parquet file ({exc}); expected a Parquet file") from exc
            names = parquet.schema_arrow.names
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise self.error(
                    f"duplicate column names {duplicates}; expected unique names", check="header"
                )
            done = 0
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                rows = np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64)
                done += batch.num_rows
                self._read = int(self._size or 0) * done // max(parquet.metadata.num_rows, 1)
                yield Chunk(pa.Table.from_batches([batch]), rows)


# --- JSON and JSON Lines -----------------------------------------------------------------------


class _RecordSource(FileSource):
    """Shared by the JSON formats: records (objects) become rows, keys become columns.

    The columns are the keys of the first chunk's records, in order of
    appearance; a later record with a key outside them is rejected as
    malformed rather than silently dropping data.
    """

    text = True
    option_names = ("encoding",)

    def _records(self) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        columns: list[str] | None = None
        batch: list[dict[str, Any]] = []
        numbers: list[int] = []
        rejected: list[Rejected] = []
        for number, record in self._records():
            if isinstance(record, Rejected):
                rejected.append(record)
                continue
            if not isinstance(record, dict):
                rejected.append(
                    Rejected(number, json.dumps(record)[:200], "is not an object; expected {...}")
                )
                continue
            if columns is not None:
                extra = [k for k in record if k not in columns]
                if extra:
                    rejected.append(
                        Rejected(
                            number,
                            json.dumps(record, default=str)[:1000],
                            f"has key(s) {extra} that the first records do not have; expected only {columns}",
                        )
                    )
                    continue
            batch.append(record)
            numbers.append(number)
            if len(batch) >= chunk_rows:
                if columns is None:
                    columns = _ordered_keys(batch)
                yield Chunk(
                    records_to_table(batch, columns), np.asarray(numbers, dtype=np.int64), _drain(rejected)
                )
                batch, numbers = [], []
        if columns is None:
            columns = _ordered_keys(batch)
        if batch or rejected:
            yield Chunk(
                records_to_table(batch, columns), np.asarray(numbers, dtype=np.int64), _drain(rejected)
            )

    def _text(self) -> io.TextIOWrapper:
        return io.TextIOWrapper(self.open_binary(), encoding=self.encoding, errors="strict")


@register_format
class JsonSource(_RecordSource):
    """A JSON array of objects, streamed record by record (never parsed whole)."""

    format = "json"
    extensions = (".json",)
    row_word = "record"

    def _expected_content(self) -> str:
        return "a JSON array of objects"

    def _records(self) -> Iterator[tuple[int, Any]]:
        decoder = json.JSONDecoder()
        with self._text() as stream:
            buffer = stream.read(_READ_BLOCK)
            position = _skip_space(buffer, 0)
            if position >= len(buffer) or buffer[position] != "[":
                found = buffer[position : position + 20]
                raise self.error(
                    f"starts with {found!r}; expected a JSON array of objects ('[{{...}}, ...]'; "
                    "for one object per line use JSON Lines, .jsonl)"
                )
            position += 1
            number = 0
            eof = False
            while True:
                position = _skip_space(buffer, position)
                while position >= len(buffer) and not eof:
                    more = stream.read(_READ_BLOCK)
                    eof = not more
                    buffer, position = buffer[position:] + more, 0
                    position = _skip_space(buffer, position)
                if position >= len(buffer):
                    raise self.error(f"ends inside the array after record {number}; expected a closing ']'")
                if buffer[position] == "]":
                    return
                if number and buffer[position] == ",":
                    position += 1
                    continue
                try:
                    value, end = decoder.raw_decode(buffer, position)
                except json.JSONDecodeError as exc:
                    if eof:
                        raise self.error(
                            f"record {number + 1} is not valid JSON ({exc.msg}); expected an object"
                        ) from exc
                    more = stream.read(_READ_BLOCK)
                    eof = not more
                    buffer, position = buffer[position:] + more, 0
                    continue
                number += 1
                yield number, value
                position = end
                if position > _READ_BLOCK:
                    buffer, position = buffer[position:], 0


@register_format
class JsonLinesSource(_RecordSource):
    """JSON Lines: one object per line; a line that is not valid JSON is rejected with its number."""

    format = "jsonl"
    extensions = (".jsonl", ".ndjson")
    row_word = "line"

    def _expected_content(self) -> str:
        return "one JSON object per line"

    def _records(self) -> Iterator[tuple[int, Any]]:
        with self._text() as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, Rejected(number, line.rstrip("\n"), f"is not valid JSON ({exc.msg})")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _ordered_keys(records: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(str(key), None)
    return list(seen)


def records_to_table(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pa.Table:
    """Rows given as mappings become a table; a column Arrow cannot type uniformly becomes strings."""
    return pa.table({name: to_arrow([record.get(name) for record in records]) for name in columns})


def to_arrow(values: Sequence[Any], na_values: frozenset[str] | None = None) -> pa.Array:
    """Python values as an Arrow array: typed when they agree, as strings when they mix types."""
    if na_values:
        values = [None if isinstance(v, str) and v in na_values else v for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        return pa.array(
            [None if v is None else v if isinstance(v, str) else _text(v) for v in values], type=pa.string()
        )


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# --- Excel -------------------------------------------------------------------------------------


@register_format
class ExcelSource(FileSource):
    """Excel ``.xlsx`` through openpyxl's streaming (read-only) mode; ``sheet`` by name or 0-based index."""

    format = "xlsx"
    extensions = (".xlsx", ".xlsm")
    option_names = ("sheet",)
    row_word = "sheet row"

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
        import openpyxl  # imported here: only Excel ingestion needs it
        from openpyxl.utils.exceptions import InvalidFileException

        with self.fs.open(self.path, "rb") as handle:
            try:
                book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
            except (InvalidFileException, OSError, KeyError, ValueError) as exc:
                raise self.error(
                    f"is not a readable .xlsx workbook ({exc}); expected an Excel .xlsx file"
                ) from exc
            try:
                yield from self._sheet_chunks(book, chunk_rows)
            finally:
                book.close()

    def _sheet_chunks(self, book: Any, chunk_rows: int) -> Iterator[Chunk]:
        sheet_option = self.options.get("sheet", 0)
        names = list(book.sheetnames)
        if (
            isinstance(sheet_option, int)
            and not isinstance(sheet_option, bool)
            and 0 <= sheet_option < len(names)
        ):
            sheet = book[names[sheet_option]]
        elif isinstance(sheet_option, str) and sheet_option in names:
            sheet = book[sheet_option]
        else:
            raise self.error(f"has no sheet {sheet_option!r}; sheets found: {names} (or a 0-based index)")
        na = frozenset(NA_VALUES)
        header: list[str] | None = None
        batch: list[tuple[Any, ...]] = []
        numbers: list[int] = []
        rejected: list[Rejected] = []
        numbers_seen = 0
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if not any(v is not None and (not isinstance(v, str) or v.strip()) for v in row):
                continue
            if header is None:
                header = self._header([v for v in row], number)
                continue
            if len(row) > len(header) and any(v is not None for v in row[len(header) :]):
                rejected.append(
                    Rejected(
                        number,
                        ",".join("" if v is None else str(v) for v in row),
                        f"has values beyond the header's {len(header)} columns",
                    )
                )
                continue
            batch.append(tuple(row[: len(header)]) + (None,) * (len(header) - len(row)))
            numbers.append(number)
            numbers_seen += 1
            if len(batch) >= chunk_rows:
                yield self._chunk(header, batch, numbers, rejected, na)
                batch, numbers = [], []
        if header is None:
            raise self.error(
                f"sheet {sheet.title!r} is empty; expected a header row and data rows", check="empty"
            )
        if batch or rejected or not numbers_seen:
            yield self._chunk(header, batch, numbers, rejected, na)

    def _header(self, cells: list[Any], number: int) -> list[str]:
        while cells and cells[-1] is None:
            cells.pop()
        names = ["" if v is None else str(v).strip() for v in cells]
        blank = [i + 1 for i, name in enumerate(names) if not name]
        if blank:
            raise self.error(
                f"header (sheet row {number}) has unnamed column(s) at position(s) {blank}; expected every "
                "column to have a name",
                check="header",
            )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise self.error(
                f"duplicate column names in header (sheet row {number}): {duplicates}; expected unique names",
                check="header",
                column=duplicates[0],
            )
        return names

    def _chunk(
        self,
        header: list[str],
        batch: list[tuple[Any, ...]],
        numbers: list[int],
        rejected: list[Rejected],
        na: frozenset[str],
    ) -> Chunk:
        columns = list(zip(*batch, strict=True)) if batch else [() for _ in header]
        table = pa.table(
            {name: to_arrow(list(values), na) for name, values in zip(header, columns, strict=True)}
        )
        return Chunk(table, np.asarray(numbers, dtype=np.int64), _drain(rejected))
