"""Streaming profile statistics: exact where promised, bounded estimates beyond."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from airflow_mlops.datasets import profile as profile_module
from airflow_mlops.datasets.hashing import splitmix64
from airflow_mlops.datasets.profile import DistinctCounter, Profiler, TopCounter
from airflow_mlops.datasets.schema import ColumnType


def test_distinct_is_exact_below_the_limit_and_close_above() -> None:
    small = DistinctCounter(exact_limit=1000)
    small.add(splitmix64(np.arange(800)))
    small.add(splitmix64(np.arange(400, 900)))
    assert (small.count(), small.exact) == (900, True)
    large = DistinctCounter(exact_limit=1000)
    for start in range(0, 300_000, 50_000):
        large.add(splitmix64(np.arange(start, start + 60_000)))  # overlapping chunks
    assert not large.exact
    assert large.count() == pytest.approx(310_000, rel=0.03)


def test_top_counter_keeps_heavy_hitters_beyond_capacity() -> None:
    counter = TopCounter(capacity=10)
    counter.add({"big": 500, "mid": 200})
    for i in range(50):
        counter.add({f"rare{i}": 3, "big": 10})
    assert not counter.exact
    top = counter.top(2)
    assert [t["value"] for t in top] == ["big", "mid"]
    assert top[0]["count"] <= 1000 and top[0]["count"] >= 1000 - 150 * 3 // 10 * 10  # a lower bound


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_profile_matches_pandas_when_small() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=5000), "c": rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2])}
    )
    frame.loc[::17, "x"] = np.nan
    profiler = Profiler({"x": ColumnType("numeric", "float"), "c": ColumnType("categorical")})
    for start in range(0, 5000, 700):
        part = frame.iloc[start : start + 700]
        profiler.update(_table(part), np.arange(start, start + len(part)))
    result = profiler.result()
    x = result["x"]
    assert x["n_missing"] == frame["x"].isna().sum()
    assert x["mean"] == pytest.approx(frame["x"].mean(), rel=1e-10)
    assert x["std"] == pytest.approx(frame["x"].std(), rel=1e-10)
    assert x["quantiles_exact"]
    for q, value in x["quantiles"].items():
        assert value == pytest.approx(frame["x"].quantile(float(q)))
    assert result["c"]["top"] == [{"value": k, "count": int(v)} for k, v in frame["c"].value_counts().items()]
    assert result["c"]["distinct"] == 3


def test_quantiles_come_from_a_bounded_sample_when_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile_module, "SAMPLE_SIZE", 2000)
    values = np.random.default_rng(1).exponential(size=50_000)
    profiler = Profiler({"x": ColumnType("numeric", "float")})
    for start in range(0, 50_000, 5000):
        profiler.update(pa.table({"x": values[start : start + 5000]}), np.arange(start, start + 5000))
        assert profiler.sample_rows <= 2 * 2000 + 5000
    result = profiler.result()["x"]
    assert profiler.sample_rows == 2000
    assert not result["quantiles_exact"]
    assert result["quantiles"]["0.5"] == pytest.approx(np.median(values), rel=0.08)
    assert result["max"] == values.max()  # min/max stay exact
