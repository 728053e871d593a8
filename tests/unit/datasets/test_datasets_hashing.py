"""Stable hashes and the chunking-independent content digest."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from airflow_mlops.datasets.hashing import ContentDigest, hash_array, splitmix64


def test_splitmix64_is_the_reference_function() -> None:
    # First outputs of the SplitMix64 generator seeded with 0 (Vigna's reference implementation).
    state = np.uint64(0x9E3779B97F4A7C15) * np.arange(1, 3, dtype=np.uint64)
    assert splitmix64(state - np.uint64(0x9E3779B97F4A7C15)).tolist() == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
    ]


def _table() -> pa.Table:
    return pa.table(
        {
            "i": pa.array([1, None, 3, 4, 5], type=pa.int64()),
            "s": pa.array(["a", "", None, "dd", "e"]),
            "t": pa.array([0, 1, 2, 3, None], type=pa.timestamp("ns", tz="UTC")),
            "b": pa.array([True, False, None, True, True]),
        }
    )


def test_digest_does_not_depend_on_chunking() -> None:
    table = _table()
    whole = ContentDigest(table.schema)
    whole.update(table)
    pieces = ContentDigest(table.schema)
    for offset, length in ((0, 2), (2, 1), (3, 2)):
        pieces.update(table.slice(offset, length))
    assert pieces.hexdigest() == whole.hexdigest()
    assert whole.hexdigest(b"params") != whole.hexdigest()


def test_digest_sees_every_difference() -> None:
    base = _table()
    digest = ContentDigest(base.schema)
    digest.update(base)
    for column, values in (
        ("s", ["a", None, None, "dd", "e"]),
        ("i", [1, 0, 3, 4, 5]),
        ("s", ["a", "", None, "d", "de"]),
    ):
        changed = base.set_column(
            base.schema.get_field_index(column), column, pa.array(values, base.schema.field(column).type)
        )
        other = ContentDigest(changed.schema)
        other.update(changed)
        assert other.hexdigest() != digest.hexdigest(), (column, values)


def test_value_hashes_are_stable_and_type_aware() -> None:
    a = hash_array(pa.array(["x", "y", None]))
    assert a.tolist() == hash_array(pa.chunked_array([["x"], ["y", None]])).tolist()
    assert a[0] != a[1]
    assert hash_array(pa.array([1, 2])).tolist() != hash_array(pa.array([1.5, 2.5])).tolist()


def test_a_value_hashes_alike_with_or_without_nulls_around_it() -> None:
    """Keys are compared across chunks, some of which have nulls and some not."""
    for values in ([7, 8], [7.5, 8.5], ["a", "b"]):
        with_null = hash_array(pa.array([*values, None]))
        assert with_null[:2].tolist() == hash_array(pa.array(values)).tolist()
        assert with_null[2] == hash_array(pa.array([None], type=pa.array(values).type))[0]
