"""A snapshot's profile, computed in one streaming pass with bounded memory.

The profile is what the registry UI, drift baselines and MLflow show about a
data version without reloading it: per column the missing rate, distinct count,
min/max/mean/std and quantiles for numbers, top categories. A 5-million-row
source must not be held in memory to compute it, so every statistic is kept in
a form that merges chunk by chunk in bounded space:

* counts, min, max, mean and standard deviation are exact (Chan's parallel
  update of mean and sum of squares);
* quantiles come from a uniform sample of at most :data:`SAMPLE_SIZE` rows, the
  rows with the smallest hash of their position (so the sample does not depend
  on chunk boundaries); below that many rows they are exact and equal pandas'
  ``quantile`` (linear interpolation);
* distinct counts are exact up to :data:`EXACT_DISTINCT_LIMIT` values (a set of
  64-bit hashes), then estimated by HyperLogLog (2^14 registers, ~1% error);
* top categories are exact while a column has at most :data:`TOP_CAPACITY`
  distinct values, then a Misra-Gries summary (any value in more than
  1/:data:`TOP_CAPACITY` of rows is kept; counts become lower bounds).

Entries say whether they are exact (``distinct_exact``, ``top_exact``,
``quantiles_exact``) so nobody mistakes an estimate for a count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from airflow_mlops.datasets.hashing import U64, hash_array, mix
from airflow_mlops.datasets.schema import ColumnType

SAMPLE_SIZE = 100_000
EXACT_DISTINCT_LIMIT = 10_000
TOP_CAPACITY = 1_000
TOP_CATEGORIES = 10
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

_HLL_P = 14
_HLL_M = 1 << _HLL_P


class DistinctCounter:
    """Exact distinct count of 64-bit hashes up to a limit, HyperLogLog beyond it."""

    def __init__(self, exact_limit: int = EXACT_DISTINCT_LIMIT) -> None:
        self._limit = exact_limit
        self._exact: set[int] | None = set()
        self._registers: npt.NDArray[np.uint8] | None = None

    @property
    def exact(self) -> bool:
        return self._exact is not None

    def add(self, hashes: U64) -> None:
        if self._exact is not None:
            self._exact.update(np.unique(hashes).tolist())
            if len(self._exact) <= self._limit:
                return
            hashes = np.fromiter(self._exact, dtype=np.uint64, count=len(self._exact))
            self._exact = None
            self._registers = np.zeros(_HLL_M, dtype=np.uint8)
        assert self._registers is not None
        if len(hashes) == 0:
            return
        index = (hashes >> np.uint64(64 - _HLL_P)).astype(np.int64)
        rest = hashes & np.uint64((1 << (64 - _HLL_P)) - 1)
        rank = np.full(len(hashes), 64 - _HLL_P + 1, dtype=np.uint8)
        nonzero = rest != 0
        # rest < 2**50 converts to float exactly, so frexp's exponent is its bit length.
        _, bits = np.frexp(rest[nonzero].astype(np.float64))
        rank[nonzero] = ((64 - _HLL_P) - bits + 1).astype(np.uint8)
        np.maximum.at(self._registers, index, rank)

    def count(self) -> int:
        if self._exact is not None:
            return len(self._exact)
        assert self._registers is not None
        alpha = 0.7213 / (1 + 1.079 / _HLL_M)
        estimate = alpha * _HLL_M * _HLL_M / float(np.sum(np.exp2(-self._registers.astype(np.float64))))
        zeros = int(np.count_nonzero(self._registers == 0))
        if estimate <= 2.5 * _HLL_M and zeros:
            estimate = _HLL_M * math.log(_HLL_M / zeros)
        return round(estimate)


class TopCounter:
    """Counts of values, exact up to ``capacity`` distinct values, then a Misra-Gries summary."""

    def __init__(self, capacity: int = TOP_CAPACITY) -> None:
        self._capacity = capacity
        self.counts: dict[str, int] = {}
        self.exact = True

    def add(self, counts: Mapping[str, int]) -> None:
        for value, count in counts.items():
            self.counts[value] = self.counts.get(value, 0) + int(count)
        if len(self.counts) > self._capacity:
            self.exact = False
            cut = sorted(self.counts.values(), reverse=True)[self._capacity]
            self.counts = {value: count - cut for value, count in self.counts.items() if count > cut}

    def top(self, k: int = TOP_CATEGORIES) -> list[dict[str, Any]]:
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [{"value": value, "count": count} for value, count in ranked]


class _Moments:
    """Exact count, min, max, mean and sum of squared deviations, merged chunk by chunk."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min: float | int | None = None
        self.max: float | int | None = None

    def add(self, values: npt.NDArray[Any]) -> None:
        if len(values) == 0:
            return
        low, high = values.min(), values.max()
        self.min = _py(low) if self.min is None else min(self.min, _py(low))
        self.max = _py(high) if self.max is None else max(self.max, _py(high))
        floats = values.astype(np.float64)
        n_b = len(floats)
        mean_b = float(floats.mean())
        m2_b = float(((floats - mean_b) ** 2).sum())
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n


class Profiler:
    """Accumulates the profile of a stream of typed tables (the rows that go into the snapshot)."""

    def __init__(self, columns: Mapping[str, ColumnType], *, seed: int = 0) -> None:
        self._types = dict(columns)
        self._seed = seed
        self.n_rows = 0
        self._missing = dict.fromkeys(columns, 0)
        self._distinct = {name: DistinctCounter() for name in columns}
        self._moments = {
            name: _Moments() for name, t in columns.items() if t.logical in ("numeric", "datetime")
        }
        self._top = {
            name: TopCounter() for name, t in columns.items() if t.logical in ("categorical", "boolean")
        }
        self._numeric = [name for name, t in columns.items() if t.logical == "numeric"]
        self._priority: U64 = np.zeros(0, dtype=np.uint64)
        self._sample: dict[str, npt.NDArray[np.float64]] = {
            name: np.zeros(0, dtype=np.float64) for name in self._numeric
        }

    def update(self, table: pa.Table, ordinals: npt.NDArray[np.int64]) -> None:
        """Add ``table``'s rows; ``ordinals`` are their 0-based positions among all profiled rows."""
        self.n_rows += table.num_rows
        for name in self._types:
            array = table.column(name).combine_chunks()
            self._missing[name] += array.null_count
            present = array.drop_null()
            # Strings are deduplicated first (fewer Python objects to hash); numbers hash as they are.
            is_text = pa.types.is_string(present.type) or pa.types.is_large_string(present.type)
            self._distinct[name].add(hash_array(pc.unique(present) if is_text else present))
            if name in self._moments:
                present = array.drop_null()
                if pa.types.is_timestamp(present.type):
                    values = pc.cast(present, pa.int64()).to_numpy(zero_copy_only=False)
                else:
                    values = present.to_numpy(zero_copy_only=False)
                    if values.dtype.kind == "f":
                        values = values[~np.isnan(values)]
                self._moments[name].add(values)
            if name in self._top:
                counts = pc.value_counts(array.drop_null())
                self._top[name].add(
                    {
                        str(value): int(count)
                        for value, count in zip(
                            counts.field("values").to_pylist(),
                            counts.field("counts").to_pylist(),
                            strict=True,
                        )
                    }
                )
        self._update_sample(table, ordinals)

    def _update_sample(self, table: pa.Table, ordinals: npt.NDArray[np.int64]) -> None:
        if not self._numeric:
            return
        priority = mix(self._seed, np.asarray(ordinals, dtype=np.uint64))
        self._priority = np.concatenate([self._priority, priority])
        for name in self._numeric:
            values = np.asarray(
                pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
            )
            self._sample[name] = np.concatenate([self._sample[name], values])
        if len(self._priority) > 2 * SAMPLE_SIZE:
            self._shrink_sample()

    def _shrink_sample(self) -> None:
        if len(self._priority) <= SAMPLE_SIZE:
            return
        keep = np.argpartition(self._priority, SAMPLE_SIZE)[:SAMPLE_SIZE]
        keep.sort()
        self._priority = self._priority[keep]
        for name in self._numeric:
            self._sample[name] = self._sample[name][keep]

    @property
    def sample_rows(self) -> int:
        """Rows held for the quantiles now: at most twice :data:`SAMPLE_SIZE` plus the last chunk's."""
        return len(self._priority)

    def non_null_count(self, column: str) -> int:
        return self.n_rows - self._missing[column]

    def distinct_count(self, column: str) -> int:
        return self._distinct[column].count()

    def result(self) -> dict[str, dict[str, Any]]:
        """Per column: type, missing rate, distinct count, and the statistics of its type."""
        self._shrink_sample()
        columns: dict[str, dict[str, Any]] = {}
        for name, column_type in self._types.items():
            n_missing = self._missing[name]
            entry: dict[str, Any] = {
                "type": column_type.logical,
                "kind": column_type.logical,
                "dtype": str(column_type.arrow_type),
                "n_missing": n_missing,
                "missing_rate": n_missing / self.n_rows if self.n_rows else 0.0,
                "distinct": self._distinct[name].count(),
                "distinct_exact": self._distinct[name].exact,
            }
            moments = self._moments.get(name)
            if moments is not None and column_type.logical == "numeric":
                entry["min"] = _finite(moments.min)
                entry["max"] = _finite(moments.max)
                # 12 significant digits: the last bits of a streamed mean depend on chunk boundaries.
                entry["mean"] = _rounded(moments.mean) if moments.n else None
                entry["std"] = _rounded(math.sqrt(moments.m2 / (moments.n - 1))) if moments.n > 1 else None
                sample = self._sample[name]
                sample = sample[~np.isnan(sample)]
                entry["quantiles"] = (
                    {
                        str(q): _finite(float(v))
                        for q, v in zip(QUANTILES, np.quantile(sample, QUANTILES), strict=True)
                    }
                    if len(sample)
                    else {}
                )
                entry["quantiles_exact"] = self.n_rows <= SAMPLE_SIZE
            elif moments is not None:
                entry["min"] = _iso(moments.min)
                entry["max"] = _iso(moments.max)
            if name in self._top:
                entry["top"] = self._top[name].top()
                entry["top_exact"] = self._top[name].exact
            columns[name] = entry
        return columns


def _py(value: Any) -> float | int:
    return value.item() if hasattr(value, "item") else value  # type: ignore[no-any-return]


def _finite(value: float | int | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _rounded(value: float) -> float | None:
    number = _finite(value)
    return None if number is None else float(f"{number:.12g}")


def _iso(nanoseconds: float | int | None) -> str | None:
    if nanoseconds is None:
        return None
    return pa.scalar(int(nanoseconds), type=pa.timestamp("ns", tz="UTC")).as_py().isoformat()
