"""Duplicate keys found with bounded memory.

:class:`KeyIndex` keeps only a 64-bit hash and the first row number per key
(16 bytes a row, 80 MB for 5 million rows) in sorted runs merged
geometrically, so a lookup is a few binary searches. Two different keys with
the same 64-bit hash would be reported as duplicates; with 5 million keys the
chance of that is below one in a million.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from airflow_mlops.datasets.checks import Mask
from airflow_mlops.datasets.hashing import U64


class KeyIndex:
    """Which key hashes were seen, and in which row first; sorted runs merged geometrically."""

    def __init__(self) -> None:
        self._runs: list[tuple[U64, npt.NDArray[np.int64]]] = []
        self.size = 0

    @property
    def runs(self) -> int:
        """How many sorted runs a lookup searches: merging keeps it logarithmic in the keys added."""
        return len(self._runs)

    @property
    def nbytes(self) -> int:
        """Memory held by the index: 16 bytes a key (hash and first row)."""
        return sum(keys.nbytes + rows.nbytes for keys, rows in self._runs)

    def first_rows(self, hashes: U64) -> npt.NDArray[np.int64]:
        """For each hash, the row it was first seen in, or -1."""
        order = np.argsort(hashes)
        found = np.empty(len(hashes), dtype=np.int64)
        found[order] = self.first_rows_sorted(hashes[order])
        return found

    def first_rows_sorted(self, probes: U64) -> npt.NDArray[np.int64]:
        """:meth:`first_rows` for sorted ``probes``.

        Sorted probes walk each run in order (numpy narrows each search by the
        previous one): an order of magnitude faster than random probes into
        millions of keys.
        """
        found = np.full(len(probes), -1, dtype=np.int64)
        for keys, rows in self._runs:
            index = np.searchsorted(keys, probes)
            inside = index < len(keys)
            hit = np.zeros(len(probes), dtype=bool)
            hit[inside] = keys[index[inside]] == probes[inside]
            found[hit] = rows[index[hit]]
        return found

    def add(self, hashes: U64, rows: npt.NDArray[np.int64]) -> None:
        """Add hashes not seen before (unique among themselves) with their row numbers."""
        order = np.argsort(hashes)
        self.add_sorted(hashes[order], rows[order])

    def add_sorted(self, hashes: U64, rows: npt.NDArray[np.int64]) -> None:
        """:meth:`add` for hashes already sorted."""
        if len(hashes) == 0:
            return
        self._runs.append((hashes, rows))
        self.size += len(hashes)
        # A binary counter of runs: at most log2(keys / chunk) runs, each key merged that many times.
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= len(self._runs[-1][0]):
            (k1, r1), (k2, r2) = self._runs.pop(-2), self._runs.pop(-1)
            self._runs.append(_merge(k1, r1, k2, r2))


def _merge(
    k1: U64, r1: npt.NDArray[np.int64], k2: U64, r2: npt.NDArray[np.int64]
) -> tuple[U64, npt.NDArray[np.int64]]:
    """Merge two sorted runs in linear time and little extra memory (no sort of the whole)."""
    n = len(k1) + len(k2)
    into = np.searchsorted(k1, k2, side="right") + np.arange(len(k2))
    from_second = np.zeros(n, dtype=bool)
    from_second[into] = True
    keys = np.empty(n, dtype=np.uint64)
    rows = np.empty(n, dtype=np.int64)
    keys[from_second], rows[from_second] = k2, r2
    keys[~from_second], rows[~from_second] = k1, r1
    return keys, rows


def duplicate_keys(
    index: KeyIndex, hashes: U64, rows: npt.NDArray[np.int64], candidates: Mask
) -> tuple[Mask, npt.NDArray[np.int64]]:
    """Rows among ``candidates`` whose key was seen before (in the index or earlier in the chunk).

    Returns the duplicate mask and, per duplicate, the row where the key first
    appeared; adds the new keys to ``index``. One sort of the chunk's hashes
    serves the lookup, the in-chunk repeats and the insertion.
    """
    n = len(hashes)
    duplicate = np.zeros(n, dtype=bool)
    first_row = np.full(n, -1, dtype=np.int64)
    positions = np.flatnonzero(candidates)
    if len(positions) == 0:
        return duplicate, first_row[duplicate]
    order = np.argsort(hashes[positions], kind="stable")  # equal keys stay in row order
    ordered = positions[order]
    keys, key_rows = hashes[ordered], rows[ordered]
    earlier = index.first_rows_sorted(keys)
    group_first = np.r_[True, keys[1:] != keys[:-1]]
    group_start = np.maximum.accumulate(np.where(group_first, np.arange(len(keys)), 0))
    is_dup = (earlier >= 0) | ~group_first
    duplicate[ordered] = is_dup
    first_row[ordered] = np.where(earlier >= 0, earlier, key_rows[group_start])
    new = ~is_dup
    index.add_sorted(keys[new], key_rows[new])
    return duplicate, first_row[duplicate]
