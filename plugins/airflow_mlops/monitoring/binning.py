"""Numbers into fixed bins, exactly as ``np.searchsorted(edges, x, side="right")``, several times faster.

Binning is most of a fold's work: every logged value of every numeric feature
is looked up among its baseline's ~120 edges. ``np.searchsorted`` is a binary
search whose branches depend on the data, so on real (unpredictable) values it
costs about 40 ns a value at that many edges, mispredictions mostly.
:class:`EdgeIndex` reads each value's code from a table over a uniform grid
instead: a few vectorised passes without branches, about 8 ns a value.

Why the table is exact, not approximate: a value's grid cell is computed by
``cell(x) = int(min(max((x - low) * scale, 0), last))`` in float64, and every
step of that (a rounded subtraction, a rounded multiplication by a positive
number, clamping, truncation of a non-negative number) is monotone in ``x``.
The edges' own cells are computed by the very same function, so for a value in
cell ``c``, every edge whose cell is below ``c`` is <= the value and every edge
whose cell is above ``c`` is greater; only the edges *in* cell ``c`` need a
comparison. The table holds, per cell, the number of edges in the cells before
it, and one step per edge the cell holds (``code += x >= next_edge``) finishes
the count. Cells holding more than :data:`MAX_STEPS` edges (the grid is capped
at :data:`MAX_CELLS`; a skewed feature's quantiles crowd near its mode while its
tails stretch the grid) are answered by a finer index over just the edges of
those cells, nested up to :data:`MAX_DEPTH` deep, then by ``np.searchsorted``.
Rounding never enters into it: the result is exactly the binary search's.

NaN is not a number to bin: callers put it in the missing bin themselves, so
NaN positions get an arbitrary code here and are never searched.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["EdgeIndex"]

#: Below this many edges a binary search is as fast as the table (and needs no table).
MIN_EDGES_FOR_TABLE = 8
#: The grid has about this many cells per the narrowest gap between edges, up to MAX_CELLS.
CELLS_PER_GAP = 2
MAX_CELLS = 1 << 15
#: Most edges one cell may hold and still be answered by steps (each step is three passes).
MAX_STEPS = 3
#: Nesting of finer indexes for crowded cells; below the last, a binary search.
MAX_DEPTH = 3


class EdgeIndex:
    """Bin codes of values against sorted, distinct, finite ``edges``: ``offset + count of edges <= x``.

    ``offset`` is added to every code (the caller's bins before the value bins, e.g.
    a missing bin), saving a pass over the values.
    """

    def __init__(self, edges: NDArray[np.float64], offset: int = 0, depth: int = 1) -> None:
        self.edges = np.ascontiguousarray(edges, dtype=np.float64)
        self.offset = int(offset)
        self._table: NDArray[np.intp] | None = None
        self._crowded: NDArray[np.bool_] | None = None
        self._finer: EdgeIndex | None = None
        self._steps = 0
        k = len(self.edges)
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
        per_cell = np.bincount(self._cells(self.edges), minlength=cells)
        # table[c]: offset + the number of edges in cells before c (all <= any value in c).
        self._table = (np.cumsum(per_cell) - per_cell + self.offset).astype(np.intp)
        most = int(per_cell.max())
        self._steps = min(most, MAX_STEPS)
        if most > MAX_STEPS:
            self._crowded = per_cell > MAX_STEPS
            # The edges from the first crowded cell's to the last's: a value in a crowded
            # cell is above every edge before them and below every edge after them.
            crowded_cells = np.flatnonzero(self._crowded)
            first = int(self._table[crowded_cells[0]]) - self.offset
            last = int(self._table[crowded_cells[-1]] + per_cell[crowded_cells[-1]]) - self.offset
            self._finer_edges = (first, last)
            if depth < MAX_DEPTH:
                self._finer = EdgeIndex(self.edges[first:last], self.offset + first, depth + 1)
        # upper[offset + j]: the edge a value of code j must reach to step up; none (NaN,
        # never reached) after the last edge. The offset's entries are never read.
        self._upper = np.concatenate([np.full(self.offset, np.nan), self.edges, [np.nan]])

    def _cells(self, x: NDArray[np.float64]) -> NDArray[np.intp]:
        """Each value's grid cell: monotone in ``x`` (see the module docstring); NaN -> 0."""
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: +-inf, clamped below
            cell = x - self._low
            cell *= self._scale
        # fmax/fmin clamp +-inf and values off the grid to its ends, and turn NaN into 0.
        np.fmax(cell, 0.0, out=cell)
        np.fmin(cell, self._last_cell, out=cell)
        return cell.astype(np.intp)

    def codes(self, x: NDArray[np.float64]) -> NDArray[np.intp]:
        """``offset + np.searchsorted(edges, x, side="right")`` where ``x`` is a number.

        Codes at NaN positions are unspecified: callers bin NaN as missing.
        """
        x = np.asarray(x, dtype=np.float64)
        if self._table is None:
            codes = np.searchsorted(self.edges, x, side="right").astype(np.intp, copy=False)
            codes += self.offset
            return codes
        cell = self._cells(x)
        codes = self._table.take(cell)
        for _ in range(self._steps):
            codes += x >= self._upper.take(codes)
        if self._crowded is not None:
            crowded = self._crowded.take(cell)
            if crowded.any():
                where = np.flatnonzero(crowded)
                if self._finer is not None:
                    codes[where] = self._finer.codes(x[where])
                else:
                    first, last = self._finer_edges
                    inside = np.searchsorted(self.edges[first:last], x[where], side="right")
                    codes[where] = inside + self.offset + first
        return codes
