"""JSON and JSON Lines: records (objects) become rows, keys become columns, streamed record by record.

A JSON array is decoded one record at a time with :meth:`json.JSONDecoder.raw_decode`
over a sliding text buffer, because the standard library has no streaming
parser and a whole-file ``json.load`` would hold the source in memory.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from airflow_mlops.datasets.sources.base import DEFAULT_CHUNK_ROWS, Chunk, Rejected, drain, records_to_table
from airflow_mlops.datasets.sources.files import READ_BLOCK, FileSource
from airflow_mlops.datasets.sources.registry import register_format


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
                    records_to_table(batch, columns), np.asarray(numbers, dtype=np.int64), drain(rejected)
                )
                batch, numbers = [], []
        if columns is None:
            columns = _ordered_keys(batch)
        if batch or rejected:
            yield Chunk(
                records_to_table(batch, columns), np.asarray(numbers, dtype=np.int64), drain(rejected)
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
            buffer = stream.read(READ_BLOCK)
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
                    more = stream.read(READ_BLOCK)
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
                    more = stream.read(READ_BLOCK)
                    eof = not more
                    buffer, position = buffer[position:] + more, 0
                    continue
                number += 1
                yield number, value
                position = end
                if position > READ_BLOCK:
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
                    reason = f"is not valid JSON ({exc.msg}); expected one JSON object per line"
                    yield number, Rejected(number, line.rstrip("\n"), reason)


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
