"""Stable hashing: per-value 64-bit hashes and a chunking-independent content digest.

Three things need hashes that never change between runs, machines or library
upgrades within a snapshot format: the per-row split decision, the bounded
duplicate-key check and distinct counts (64-bit hashes), and the snapshot
version (a sha256 over the data). The digest must not depend on how a source
happened to be cut into chunks (a SQL driver's fetch size, a CSV block size),
or the same data would get two versions; :class:`ContentDigest` therefore
keeps one running hash per column *stream* (values, validity, string lengths,
string bytes), each of which sees the same byte sequence however the rows were
chunked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

U64 = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: The hash of every null value.
NULL_HASH = np.uint64(0x6E756C6C6E756C6C)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(values: npt.ArrayLike) -> U64:
    """SplitMix64's finaliser, vectorised: a well-mixed, stable 64-bit hash of 64-bit integers."""
    x = np.asarray(values).astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        x ^= x >> np.uint64(31)
    return x


def mix(*parts: npt.ArrayLike) -> U64:
    """Hash a tuple of integers (scalars broadcast against arrays) into one 64-bit hash each."""
    h: U64 = np.zeros(1, dtype=np.uint64)
    for part in parts:
        with np.errstate(over="ignore"):
            h = splitmix64(np.bitwise_xor(h * np.uint64(31), np.asarray(part).astype(np.uint64)))
    return h


def hash_array(array: pa.Array | pa.ChunkedArray) -> U64:
    """A stable 64-bit hash per value of an Arrow array; every null hashes to :data:`NULL_HASH`.

    Numbers, timestamps and booleans hash by their 64-bit pattern (SplitMix64;
    no Python objects); text through pandas' ``hash_array`` (SipHash with a
    fixed key). Either way the hash of a value does not depend on the other
    values in its chunk, so keys compare across chunks.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if pa.types.is_null(array.type):
        return np.full(len(array), NULL_HASH, dtype=np.uint64)
    if pa.types.is_timestamp(array.type) or pa.types.is_boolean(array.type):
        array = pc.cast(array, pa.int64())
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        kind = np.float64 if pa.types.is_floating(array.type) else np.int64
        filled = pc.fill_null(array, pa.scalar(0, type=array.type)) if array.null_count else array
        bits = np.ascontiguousarray(filled.to_numpy(zero_copy_only=False).astype(kind))
        hashed = splitmix64(bits.view(np.uint64))
    else:
        values = array.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "M":
            values = values.view(np.int64)
        hashed = np.asarray(pd.util.hash_array(values), dtype=np.uint64)
    if array.null_count:
        hashed[np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = NULL_HASH
    return hashed


def hash_rows(table: pa.Table, columns: Sequence[str]) -> U64:
    """A stable 64-bit hash per row over ``columns`` (used for composite keys)."""
    if len(columns) == 1:
        return hash_array(table.column(columns[0]))
    h: U64 = np.zeros(table.num_rows, dtype=np.uint64)
    for position, name in enumerate(columns):
        h = mix(h, np.uint64(position), hash_array(table.column(name)))
    return h


class ContentDigest:
    """A sha256 over a table's columns that is independent of how the rows were chunked."""

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._streams: dict[tuple[str, str], hashlib._Hash] = {}
        self.rows = 0

    def _stream(self, column: str, kind: str) -> hashlib._Hash:
        key = (column, kind)
        if key not in self._streams:
            self._streams[key] = hashlib.sha256()
        return self._streams[key]

    def update(self, table: pa.Table) -> None:
        """Feed the next rows; ``table`` must have the digest's schema."""
        self.rows += table.num_rows
        for field in self._schema:
            column = table.column(field.name)
            array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            valid = np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=np.uint8)
            self._stream(field.name, "valid").update(valid.tobytes())
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                filled = pc.fill_null(array, "")
                lengths = np.asarray(pc.binary_length(filled).to_numpy(zero_copy_only=False), dtype=np.int64)
                self._stream(field.name, "lengths").update(lengths.tobytes())
                self._stream(field.name, "bytes").update(_string_bytes(filled))
            else:
                if pa.types.is_timestamp(field.type):
                    array = pc.cast(array, pa.int64())
                elif pa.types.is_boolean(field.type):
                    array = pc.cast(array, pa.uint8())
                zero = pa.scalar(0, type=array.type)
                values = pc.fill_null(array, zero).to_numpy(zero_copy_only=False)
                self._stream(field.name, "values").update(np.ascontiguousarray(values).tobytes())

    def hexdigest(self, header: bytes = b"") -> str:
        """The digest of everything fed so far, prefixed by ``header`` (e.g. the split parameters)."""
        total = hashlib.sha256(b"airflow-mlops/content\n")
        total.update(header)
        total.update(str(self._schema).encode())
        total.update(str(self.rows).encode())
        for key in sorted(self._streams):
            total.update(repr(key).encode())
            total.update(self._streams[key].digest())
        return total.hexdigest()


def _string_bytes(array: pa.Array) -> bytes | memoryview:
    """The UTF-8 bytes of every value of a null-free string array, concatenated (no copy)."""
    if len(array) == 0:
        return b""
    _, offsets_buf, data_buf = array.buffers()[:3]
    width = 8 if pa.types.is_large_string(array.type) else 4
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if width == 8 else np.int32)
    start = int(offsets[array.offset])
    end = int(offsets[array.offset + len(array)])
    if data_buf is None or end == start:
        return b""
    return memoryview(data_buf)[start:end]
