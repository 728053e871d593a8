"""The bounded duplicate-key index."""

from __future__ import annotations

import numpy as np

from airflow_mlops.datasets.hashing import splitmix64
from airflow_mlops.datasets.keys import KeyIndex, duplicate_keys


def test_key_index_finds_earlier_rows_across_many_merged_runs() -> None:
    index = KeyIndex()
    keys = splitmix64(np.arange(20_000))
    for start in range(0, 20_000, 1000):
        index.add(keys[start : start + 1000], np.arange(start, start + 1000) + 1)
    assert index.runs <= 6  # merged geometrically, not one run per chunk
    assert index.nbytes == 16 * 20_000 and index.size == 20_000
    probe = np.array([keys[5], keys[19_999], splitmix64(np.array([10**9]))[0]], dtype=np.uint64)
    assert index.first_rows(probe).tolist() == [6, 20_000, -1]


def test_duplicates_within_a_chunk_and_against_earlier_chunks() -> None:
    index = KeyIndex()
    hashes = np.array([1, 2, 3], dtype=np.uint64)
    dup, _ = duplicate_keys(index, hashes, np.array([1, 2, 3]), np.ones(3, dtype=bool))
    assert not dup.any()
    hashes = np.array([4, 2, 4, 5, 5], dtype=np.uint64)
    candidates = np.array([True, True, True, False, True])
    dup, first = duplicate_keys(index, hashes, np.array([4, 5, 6, 7, 8]), candidates)
    assert dup.tolist() == [False, True, True, False, False]
    assert first.tolist() == [2, 4]  # row 5 repeats row 2's key, row 6 repeats row 4's
    assert index.first_rows(np.array([5], dtype=np.uint64)).tolist() == [8]  # row 7 was not a candidate
