"""The train/holdout split, decided row by row while streaming, reproducibly.

A split must be reproducible (same data and seed, same holdout), must not need
the whole dataset in memory, and for classification must keep each class's
share on both sides (a 1% class should not vanish from the holdout by chance).

**Stratified blocks.** Within each class (the whole dataset is one "class" for
regression), the class's rows are numbered in source order. The first row of
every class goes to training, so each class the model may predict is trained
on. The others are cut into consecutive blocks of about ``1/fraction`` rows,
block ``k`` spanning positions ``ceil(k/f) .. ceil((k+1)/f) - 1`` (exact
rational arithmetic), and one row per block, chosen by a hash of
``(seed, class, k)``, goes to the holdout. So each class's holdout share is
``fraction`` to within one row, rows are picked at random inside their block,
and the decision for a row depends only on the rows of its class before it:
no second pass, no buffering, only a counter per class.

**Time.** With a time column the holdout is the latest ``fraction`` of rows
(models are judged on the future, as in production); ties keep source order.
That needs every row's time, so :class:`TimeSplit` keeps one int64 per row
(40 MB for 5 million rows) and decides after the pass.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from airflow_mlops.datasets.hashing import mix

Mask = npt.NDArray[np.bool_]


class StratifiedSplit:
    """Holdout decisions for rows given their class codes, chunk after chunk."""

    def __init__(self, fraction: float, seed: int) -> None:
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"holdout fraction must be strictly between 0 and 1, got {fraction}")
        ratio = Fraction(fraction).limit_denominator(1_000_000)
        self._p, self._q = ratio.numerator, ratio.denominator
        self._seed = seed
        self._seen: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def assign(self, codes: npt.NDArray[np.int64]) -> Mask:
        """Holdout mask for rows whose classes are ``codes`` (0-based class indices, -1 = no class).

        Rows with code -1 (e.g. a missing target kept by a ``warn`` policy) share one stratum.
        """
        codes = np.asarray(codes, dtype=np.int64) + 1  # stratum 0 holds the rows without a class
        n = len(codes)
        if n == 0:
            return np.zeros(0, dtype=bool)
        if codes.max() >= len(self._seen):
            self._seen = np.concatenate(
                [self._seen, np.zeros(codes.max() + 1 - len(self._seen), dtype=np.int64)]
            )
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        group_sizes = np.diff(np.r_[starts, n])
        rank_in_group = np.arange(n) - np.repeat(starts, group_sizes)
        position = np.empty(n, dtype=np.int64)
        position[order] = self._seen[sorted_codes] + rank_in_group
        np.add.at(self._seen, sorted_codes[starts], group_sizes)

        holdout = np.zeros(n, dtype=bool)
        eligible = position >= 1  # the first row of a class always trains
        t = position[eligible] - 1
        p, q = self._p, self._q
        block = (t * p) // q
        first = (block * q + p - 1) // p
        after = ((block + 1) * q + p - 1) // p
        length = np.maximum(after - first, 1)
        pick = first + (mix(self._seed, codes[eligible], block) % length.astype(np.uint64)).astype(np.int64)
        holdout[eligible] = t == pick
        return holdout


class TimeSplit:
    """Collects row times during the pass; the latest ``fraction`` of rows become the holdout."""

    def __init__(self, fraction: float) -> None:
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"holdout fraction must be strictly between 0 and 1, got {fraction}")
        self._fraction = fraction
        self._parts: list[npt.NDArray[np.generic]] = []

    def add(self, times: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> None:
        """Times of the next rows: int64 (nanoseconds) or float64 (a numeric time column)."""
        self._parts.append(np.asarray(times))

    def holdout_mask(self) -> Mask:
        """One flag per row added, in order: True for the latest rows."""
        times = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.int64)
        n = len(times)
        mask = np.zeros(n, dtype=bool)
        if n < 2:
            return mask
        n_holdout = min(max(math.floor(n * self._fraction + 0.5), 1), n - 1)
        order = np.argsort(times, kind="stable")
        mask[order[n - n_holdout :]] = True
        return mask
