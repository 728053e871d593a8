"""EdgeIndex: the table lookup must give exactly np.searchsorted(edges, x, side="right")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from airflow_mlops.monitoring import FeatureBins
from airflow_mlops.monitoring.binning import MAX_CELLS, MAX_DEPTH, MAX_STEPS, EdgeIndex


def _quantile_edges(values: np.ndarray, n: int = 100) -> np.ndarray:
    return np.unique(np.quantile(values, np.linspace(0, 1, n + 1)[1:-1]))


def _awkward_values(edges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values where a table lookup can go wrong: on every edge, one float either side, far outside."""
    with np.errstate(over="ignore"):
        span = min(float(edges[-1] - edges[0]), 1e300) if len(edges) > 1 else 1.0
    return np.concatenate(
        [
            edges,
            np.nextafter(edges, -np.inf),
            np.nextafter(edges, np.inf),
            rng.uniform(max(edges[0] - span, -1e307), min(edges[-1] + span, 1e307), 5000),
            [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e308, -1e308, 5e-324],
        ]
    )


def _check(edges: np.ndarray, x: np.ndarray) -> None:
    numbers = ~np.isnan(x)  # NaN codes are the caller's business
    for offset in (0, 1, 3):
        want = np.searchsorted(edges, x, side="right") + offset
        got = EdgeIndex(edges, offset=offset).codes(x)
        np.testing.assert_array_equal(got[numbers], want[numbers])


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.normal(0, 1, n),
        lambda rng, n: rng.lognormal(0, 2.5, n),  # a range much wider than the narrowest gap
        lambda rng, n: rng.standard_t(1.5, n),  # heavy tails
        lambda rng, n: rng.uniform(1e9, 1e9 + 1, n),  # large offset, small spread
        lambda rng, n: rng.uniform(-1e-12, 1e-12, n),  # tiny values
        lambda rng, n: rng.integers(0, 40, n).astype(float),  # ties: integer edges
        lambda rng, n: np.where(rng.random(n) < 0.1, rng.normal(4, 1e-9, n), rng.normal(0, 1, n)),
    ],
)
def test_codes_equal_searchsorted_on_quantile_edges(draw) -> None:
    rng = np.random.default_rng(0)
    edges = _quantile_edges(draw(rng, 20_000))
    _check(edges, _awkward_values(edges, rng))
    _check(edges, draw(rng, 20_000))


def test_codes_equal_searchsorted_for_edge_sets_that_defeat_the_table() -> None:
    rng = np.random.default_rng(1)
    cases = [
        np.array([]),
        np.array([3.0]),
        np.array([1.0, 2.0, 3.0]),  # too few edges: plain search
        np.sort(rng.normal(size=200)),
        # a cluster of edges much closer than the grid can resolve, plus a wide range
        np.concatenate([[-1e6], 1.0 + np.arange(50) * 1e-13, [1e6]]),
        np.array([-1e308, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 1e308]),  # the span overflows to inf
        np.nextafter(1.0, np.inf) ** np.arange(20),  # adjacent floats
    ]
    for edges in cases:
        _check(edges, _awkward_values(edges, rng) if len(edges) else rng.normal(size=100))


def test_crowded_cells_take_steps_or_the_search() -> None:
    """Exercise each way a cell is answered: steps for a few edges, the search for many."""
    rng = np.random.default_rng(3)
    # 10 edges a picometre apart in a billion-wide range: one cell holds them all.
    crowded = np.concatenate([[0.0], 1.0 + np.arange(10) * 1e-12, [1e9]])
    index = EdgeIndex(crowded)
    assert index._table is not None and len(index._table) <= MAX_CELLS
    assert index._crowded is not None and index._steps == MAX_STEPS
    finest = index._finer
    while finest is not None and finest._finer is not None:
        finest = finest._finer
    assert finest is not None and finest._crowded is None  # finer levels resolve the cluster
    _check(crowded, _awkward_values(crowded, rng))
    # two such clusters a unit apart: every finer level sees the same crowding, down to the search
    twice = np.concatenate([[0.0], 1.0 + np.arange(10) * 1e-12, 2.0 + np.arange(10) * 1e-12, [1e9]])
    index = EdgeIndex(twice)
    levels = 1
    while index._finer is not None:
        index, levels = index._finer, levels + 1
    assert levels == MAX_DEPTH and index._crowded is not None
    _check(twice, _awkward_values(twice, rng))
    _check(twice, np.concatenate([1.0 + rng.uniform(0, 1e-11, 1000), 2.0 + rng.uniform(0, 1e-11, 1000)]))
    # at the last level, the search covers only the crowded cells' edges (here not the first)
    deepest = np.concatenate([[-1e9, -5.0, 0.0], 1.0 + np.arange(10) * 1e-12, [1e9]])
    index = EdgeIndex(deepest, offset=2, depth=MAX_DEPTH)
    assert index._finer is None and index._crowded is not None
    numbers = _awkward_values(deepest, rng)
    numbers = numbers[~np.isnan(numbers)]
    np.testing.assert_array_equal(index.codes(numbers), np.searchsorted(deepest, numbers, side="right") + 2)
    # a strongly skewed feature: quantiles crowd near 0 while the tail stretches the grid
    skewed = _quantile_edges(rng.lognormal(0, 3, 20_000))
    _check(skewed, rng.lognormal(0, 3, 20_000))
    # pairs of edges closer than a cell: two steps, no search
    pairs = np.sort(np.concatenate([np.arange(0.0, 1e7, 1e6), np.arange(0.0, 1e7, 1e6) + 1e-3]))
    index = EdgeIndex(pairs)
    assert index._crowded is None and index._steps == 2
    _check(pairs, _awkward_values(pairs, rng))
    assert EdgeIndex(np.array([1.0, 2.0]))._table is None


def test_numeric_counts_unchanged_through_pandas_and_arrow() -> None:
    """FeatureBins.count and count_arrow bin with EdgeIndex: same counts as a plain search."""
    rng = np.random.default_rng(2)
    edges = _quantile_edges(rng.lognormal(0, 1, 10_000))
    bins = FeatureBins(name="x", kind="numeric", edges=[float(e) for e in edges])
    x = _awkward_values(edges, rng)
    x[::7] = np.nan
    want = np.bincount(
        np.where(np.isnan(x), 0, np.searchsorted(edges, x, side="right") + 1), minlength=bins.n_bins
    )
    assert bins.count(pd.Series(x)).tolist() == want.tolist()
    assert bins.count_arrow(pa.array(x, from_pandas=True)).tolist() == want.tolist()
    assert bins.count_arrow(pa.chunked_array([x[:100], x[100:]])).tolist() == want.tolist()


def test_dictionary_columns_count_like_plain_strings() -> None:
    bins = FeatureBins(name="c", kind="categorical", categories=["a", "b", "c"])
    values = ["a", "zzz", None, "b", "a", "c", None, "q"]
    want = bins.count(pd.Series(values, dtype=object)).tolist()
    assert want == [2, 2, 1, 1, 2]
    assert bins.count_arrow(pa.array(values)).tolist() == want
    assert bins.count_arrow(pa.array(values).dictionary_encode()).tolist() == want
    # a null stored in the dictionary itself is missing too
    assert bins.count_arrow(pa.array(values).dictionary_encode(null_encoding="encode")).tolist() == want
    assert bins.count_arrow(pa.array(values, pa.large_string())).tolist() == want
