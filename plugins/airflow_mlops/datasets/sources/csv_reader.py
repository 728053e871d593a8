"""CSV: the dialect and encoding detected (or set in ``options``), rows streamed by pyarrow as text.

Why every column is read as a string: the types are decided by this package's
own rules (:mod:`airflow_mlops.datasets.schema`) and a contract, uniformly for
all sources, and a value that does not fit its column becomes a flagged row
instead of an exception that aborts the whole read. pyarrow's reader is
single-threaded here because only then does it report the row number of a
ragged row; the dialect is sniffed with the standard library's ``csv`` on the
first 64 KiB, because pyarrow has no sniffer.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from airflow_mlops.datasets.errors import DataValidationError, SourceError
from airflow_mlops.datasets.sources.base import DEFAULT_CHUNK_ROWS, NA_VALUES, Chunk, Rejected, drain
from airflow_mlops.datasets.sources.files import FileSource, ReadAheadGate
from airflow_mlops.datasets.sources.registry import register_format

CSV_BLOCK_SIZE = 16 << 20
#: Blocks the CSV reader may read ahead of the one being processed (see :class:`ReadAheadGate`).
READ_AHEAD_BLOCKS = 2
_SNIFF_BYTES = 64 << 10
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")


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
                    yield Chunk(pa.Table.from_batches([batch]), rows, drain(rejected))
            except pa.ArrowInvalid as exc:
                raise self.error(
                    f"cannot be parsed as CSV after data row {delivered} ({str(exc).strip()}); expected "
                    f"well-formed CSV with delimiter {dialect['delimiter']!r} and quote {dialect['quotechar']!r}"
                ) from exc
            finally:
                gate.release()
        if rejected or delivered == 0:
            # Rejected rows after the last batch, or a header without rows: the columns are still known.
            yield Chunk(_empty_table(header), np.zeros(0, dtype=np.int64), drain(rejected))


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
