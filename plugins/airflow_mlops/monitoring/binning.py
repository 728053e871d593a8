"""Numbers into fixed bins, exactly as ``np.searchsorted(edges, x, side="right")``, several times faster.

Binning is most of a fold's work: every logged value of every numeric feature
is looked up among its baseline's ~120 edges. ``np.searchsorted`` is a binary
search whose branches depend on the data, so on real (unpredictable) values it
costs about 40 ns a value at that many edges, mispredictions mostly. :class:`EdgeIndex`
instead reads each value's bin from a table over a uniform grid spanning the
edges (a subtraction, a multiplication, two lookups), takes one step if the
value's grid cell holds an edge, then *checks* the answer against the edges
themselves: ``edges[code - 1] <= x < edges[code]``. Values that fail the check
(rounding at a cell's border, a cell holding several edges, +-inf) are looked up
with ``np.searchsorted``, so the result is exactly its result, whatever the
edges. On the fold's data that is about 8 ns a value.

NaN is not a number to bin: callers put it in the missing bin themselves, so
NaN positions are reported as 0 here and never searched.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["EdgeIndex"]

#: Below this many edges a binary search is as fast as the table (and needs no table).
MIN_EDGES_FOR_TABLE = 8
#: The grid has about this many cells per the narrowest gap between edges, up to MAX_CELLS.
CELLS_PER_GAP = 2
MAX_CELLS = 1 << 14


class EdgeIndex:
    """Bin codes of values against sorted, distinct, finite ``edges``: ``count of edges <= x``."""

    def __init__(self, edges: NDArray[np.float64]) -> None:
        self.edges = np.ascontiguousarray(edges, dtype=np.float64)
        k = len(self.edges)
        self._table: NDArray[np.int32] | None = None
        if k < MIN_EDGES_FOR_TABLE:
            return
        low, high = float(self.edges[0]), float(self.edges[-1])
        span = high - low
        narrowest = float(np.diff(self.edges).min())
        if not (np.isfinite(span) and span > 0 and narrowest > 0):
            return
        cells = int(min(MAX_CELLS, max(64, np.ceil(CELLS_PER_GAP * span / narrowest))))
        scale = cells / span
        if not np.isfinite(scale):
            return
        self._low, self._scale, self._last_cell = low, scale, float(cells - 1)
        starts = low + np.arange(cells, dtype=np.float64) / scale
        # The code of each cell's left border; a value further right in the cell is
        # at most one edge above it when cells are narrower than the gaps.
        self._table = np.searchsorted(self.edges, starts, side="right").astype(np.int32)
        # upper[j]: the edge a value of code j is below; lower[j]: the edge it is at or above.
        # One more entry each for the code k + 1 that a step from k makes at x = +inf
        # (then lower = upper = inf: the check fails and the search answers).
        self._upper = np.concatenate([self.edges, [np.inf, np.inf]])
        self._lower = np.concatenate([[-np.inf], self.edges, [np.inf]])

    def codes(self, x: NDArray[np.float64], missing: NDArray[np.bool_] | None = None) -> NDArray[np.intp]:
        """``np.searchsorted(edges, x, side="right")``; 0 where ``missing`` (NaN) is true.

        ``missing`` must be ``np.isnan(x)`` (computed here if not given).
        """
        x = np.asarray(x, dtype=np.float64)
        if missing is None:
            missing = np.isnan(x)
        if self._table is None:
            codes = np.searchsorted(self.edges, x, side="right").astype(np.intp, copy=False)
            codes[missing] = 0
            return codes
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: inf, clamped below
            cell = x - self._low
            cell *= self._scale
        # fmax/fmin drop NaN (-> 0) and clamp +-inf and values off the grid to its ends.
        np.fmax(cell, 0.0, out=cell)
        np.fmin(cell, self._last_cell, out=cell)
        codes = self._table.take(cell.astype(np.intp)).astype(np.intp)
        codes += x >= self._upper.take(codes)
        wrong = (x < self._lower.take(codes)) | (x >= self._upper.take(codes))
        wrong &= ~missing
        if wrong.any():
            where = np.flatnonzero(wrong)
            codes[where] = np.searchsorted(self.edges, x[where], side="right")
        codes[missing] = 0
        return codes
