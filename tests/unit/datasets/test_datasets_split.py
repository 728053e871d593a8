"""The streaming split: stratified within one row per class, random inside blocks, chunking-independent."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_mlops.datasets.split import StratifiedSplit, TimeSplit


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 1 / 3, 0.5, 0.7])
def test_each_class_gets_its_share_within_one_row(fraction: float) -> None:
    rng = np.random.default_rng(7)
    codes = rng.choice(4, size=5000, p=[0.7, 0.2, 0.09, 0.01])
    holdout = StratifiedSplit(fraction, seed=3).assign(codes)
    for code in range(4):
        n = int((codes == code).sum())
        assert abs(int(holdout[codes == code].sum()) - (n - 1) * fraction) <= 1, (code, n)


def test_the_first_row_of_every_class_trains() -> None:
    codes = np.array([0, 1, 2, 0, 1, 2] * 20)
    for seed in range(20):
        holdout = StratifiedSplit(0.5, seed=seed).assign(codes)
        assert not holdout[:3].any()


def test_chunking_does_not_change_the_split() -> None:
    codes = np.random.default_rng(1).integers(0, 3, 10_000)
    whole = StratifiedSplit(0.2, seed=5).assign(codes)
    splitter = StratifiedSplit(0.2, seed=5)
    pieces = np.concatenate([splitter.assign(part) for part in np.array_split(codes, 37)])
    np.testing.assert_array_equal(pieces, whole)


def test_the_seed_picks_other_rows_inside_the_same_blocks() -> None:
    # The first row trains; the other 1000 make 200 whole blocks of five, one holdout row each.
    codes = np.zeros(1001, dtype=np.int64)
    a = StratifiedSplit(0.2, seed=1).assign(codes)
    b = StratifiedSplit(0.2, seed=2).assign(codes)
    for holdout in (a, b):
        assert int(holdout.sum()) == 200
        assert not holdout[0]
        per_block = np.bincount((np.flatnonzero(holdout) - 1) // 5, minlength=200)
        assert per_block.tolist() == [1] * 200
    assert not np.array_equal(a, b)


def test_rows_without_a_class_share_a_stratum() -> None:
    holdout = StratifiedSplit(0.5, seed=0).assign(np.full(101, -1))
    assert holdout.sum() == 50


def test_time_split_takes_the_latest_rows_and_keeps_ties_in_order() -> None:
    split = TimeSplit(0.25)
    split.add(np.array([5, 1, 3, 3]))
    split.add(np.array([2, 3, 8, 0]))
    mask = split.holdout_mask()
    assert mask.tolist() == [True, False, False, False, False, False, True, False]
    tied = TimeSplit(0.5)
    tied.add(np.array([1, 1, 1, 1]))
    assert tied.holdout_mask().tolist() == [False, False, True, True]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_fraction_is_validated(fraction: float) -> None:
    with pytest.raises(ValueError, match=rf"strictly between 0 and 1, got {fraction}"):
        StratifiedSplit(fraction, seed=0)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        TimeSplit(fraction)


def test_numeric_time_column_orders_the_split() -> None:
    split = TimeSplit(0.5)
    split.add(np.array([0.5, -np.inf, 3.25, 2.0]))
    assert split.holdout_mask().tolist() == [False, False, True, True]
