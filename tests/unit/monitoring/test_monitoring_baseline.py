"""Baselines: fixed bins, counting into them, and surviving a JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.monitoring import Baseline, FeatureBins, build_baseline, drift_score, share_groups


def _bin_of(bins: FeatureBins, value: object) -> str:
    """Label of the single bin one value lands in."""
    counts = bins.count(pd.Series([value], dtype=object))
    assert counts.sum() == 1
    return bins.labels[int(np.argmax(counts))]


@pytest.fixture
def train() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    n = 1000
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 10, size=n),
            "tenure": rng.integers(0, 60, size=n),
            "plan": rng.choice(["basic", "pro", "team", "enterprise"], p=[0.5, 0.3, 0.15, 0.05], size=n),
            "churned_before": rng.random(n) < 0.3,
        }
    )
    df.loc[::7, "age"] = np.nan
    df.loc[::11, "plan"] = None
    return df


def test_numeric_labels_and_closed_left_convention() -> None:
    bins = FeatureBins(name="x", kind="numeric", edges=[1.5, 3.0, 9.0])
    assert bins.labels == ["missing", "< 1.5", "[1.5, 3.0)", "[3.0, 9.0)", ">= 9.0"]
    assert bins.n_bins == 5
    assert _bin_of(bins, 1.4999) == "< 1.5"
    assert _bin_of(bins, 1.5) == "[1.5, 3.0)"  # an edge belongs to the bin it opens
    assert _bin_of(bins, 8.999) == "[3.0, 9.0)"
    assert _bin_of(bins, 9.0) == ">= 9.0"


def test_categorical_labels() -> None:
    bins = FeatureBins(name="plan", kind="categorical", categories=["basic", "pro"])
    assert bins.labels == ["missing", "basic", "pro", "other (not a baseline category)"]


def test_quantile_edges_give_equal_mass_bins() -> None:
    df = pd.DataFrame({"x": np.arange(1000, dtype=float)})
    baseline = build_baseline(df, n_bins=10)
    bins = baseline.features["x"]
    assert bins.kind == "numeric"
    counts = np.asarray(baseline.baseline_counts["x"])
    outside = bins.out_of_range_mask()
    assert outside is not None
    # The decile edges are edges; finer tail quantiles (0.1%, 0.2%, 0.5%) split the outer deciles.
    assert {99.9, 199.8, 299.7, 899.1} <= set(np.round(bins.edges, 6))
    assert {0.999, 1.998, 4.995, 994.005, 997.002, 998.001} <= set(np.round(bins.edges, 6))
    groups = share_groups(bins, counts)
    assert np.bincount(groups, weights=counts).tolist() == [0] + [100] * 10
    # Outside the training range: 6 bins below the minimum, 6 from just above the maximum up.
    assert counts[outside].sum() == 0 and outside.sum() == 12
    assert bins.low == 0.0 and bins.high == 999.0


def test_old_ten_bin_baselines_still_load_and_score() -> None:
    """A format-1 baseline (deciles, no tails, top-10 "other") is read and scored as before."""
    old = {
        "version": 1,
        "features": [
            {"name": "x", "kind": "numeric", "edges": [1.0, 2.0, 3.0], "categories": []},
            {"name": "c", "kind": "categorical", "edges": [], "categories": ["a", "b"]},
        ],
        "baseline_counts": {"x": [0, 25, 25, 25, 25], "c": [0, 60, 40, 0]},
    }
    baseline = Baseline.from_dict(old)
    assert baseline.features["x"].low is None and baseline.features["x"].out_of_range_mask() is None
    live = baseline.count(pd.DataFrame({"x": [0.5, 1.5, 2.5, 3.5] * 10, "c": ["a", "b", "zzz", None] * 10}))
    assert live["x"].tolist() == [0, 10, 10, 10, 10]
    assert live["c"].tolist() == [10, 10, 10, 10]
    assert drift_score("psi", old["baseline_counts"]["x"], live["x"], baseline.bins("x")) == 0.0
    assert Baseline.from_dict(baseline.to_dict()) == baseline  # written back as version 2


def test_training_values_fill_non_missing_bins_and_out_of_range_goes_to_outer_bins(
    train: pd.DataFrame,
) -> None:
    baseline = build_baseline(train, ["age"])
    bins = baseline.features["age"]
    counts = baseline.baseline_counts["age"]
    outside = bins.out_of_range_mask()
    assert outside is not None
    assert counts[0] == train["age"].isna().sum()
    # Continuous data: no empty bin inside the training range, nothing outside it.
    assert all(c > 0 for c, out in zip(counts[1:], outside[1:], strict=True) if not out)
    assert all(c == 0 for c, out in zip(counts, outside, strict=True) if out)
    assert bins.low == train["age"].min() and bins.high == train["age"].max()
    assert _bin_of(bins, train["age"].min() - 1e6) == bins.labels[1]
    assert _bin_of(bins, train["age"].max() + 1e6) == bins.labels[-1]
    # Just beyond the training range is a bin of its own, known to be out of range.
    just_above = bins.count(np.array([train["age"].max() + 1e-6]))
    assert outside[int(np.argmax(just_above))]
    assert not outside[int(np.argmax(bins.count(np.array([train["age"].max()]))))]
    assert bins.labels[1].startswith("< ")
    assert bins.labels[-1].startswith(">= ")
    inf_counts = bins.count(np.array([-np.inf, np.inf]))
    assert inf_counts[1] == 1 and inf_counts[-1] == 1


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([np.nan, None, 1.0], dtype=object),
        pd.Series([np.nan, np.nan, 1.0]),
        pd.Series([pd.NA, pd.NA, 1], dtype="Int64"),
        np.array([np.nan, np.nan, 1.0]),
        np.array([None, np.nan, 1.0], dtype=object),
    ],
)
def test_numeric_missing_values_go_to_missing_bin(values: pd.Series | np.ndarray) -> None:
    bins = FeatureBins(name="x", kind="numeric", edges=[0.5, 2.0])
    assert bins.count(values).tolist() == [2, 0, 1, 0]


def test_categorical_missing_and_unseen_values() -> None:
    bins = FeatureBins(name="plan", kind="categorical", categories=["basic", "pro"])
    values = pd.Series(["pro", None, np.nan, "basic", "platinum", "pro", ""])
    assert bins.count(values).tolist() == [2, 1, 2, 2]  # missing, basic, pro, other ("platinum", "")
    assert bins.count(np.array(["pro", None, "zzz"], dtype=object)).tolist() == [1, 0, 1, 1]
    as_category = pd.Series(["pro", None, "zzz"], dtype="category")
    assert bins.count(as_category).tolist() == [1, 0, 1, 1]


def test_top_k_keeps_most_frequent_and_breaks_ties_alphabetically() -> None:
    df = pd.DataFrame({"c": ["z"] * 5 + ["b"] * 3 + ["a"] * 3 + ["q"] * 1})
    baseline = build_baseline(df, top_k=2)
    assert baseline.features["c"].categories == ["z", "a"]
    assert baseline.baseline_counts["c"] == [0, 5, 3, 4]  # b and q are "other" even in training


def test_bool_column_is_categorical() -> None:
    df = pd.DataFrame({"flag": [True, False, True, True]})
    baseline = build_baseline(df)
    bins = baseline.features["flag"]
    assert bins.kind == "categorical"
    assert bins.categories == ["True", "False"]
    assert baseline.baseline_counts["flag"] == [0, 3, 1, 0]
    assert bins.count(pd.Series([False, None, True], dtype=object)).tolist() == [1, 1, 1, 0]


def test_all_missing_numeric_column_is_still_usable() -> None:
    df = pd.DataFrame({"x": [np.nan] * 20, "y": np.arange(20.0)})
    baseline = build_baseline(df)
    bins = baseline.features["x"]
    assert bins.kind == "numeric"
    assert bins.edges == []
    assert bins.labels == ["missing", "any value"]
    assert baseline.baseline_counts["x"] == [20, 0]
    live = bins.count(pd.Series([1.0, -5.0, np.nan]))
    assert live.tolist() == [1, 2]
    assert drift_score("psi", baseline.baseline_counts["x"], live) > 1.0  # values appearing is drift


def test_all_missing_object_column_is_categorical_with_no_categories() -> None:
    df = pd.DataFrame({"c": pd.Series([None, None, None], dtype=object)})
    baseline = build_baseline(df)
    assert baseline.features["c"].categories == []
    assert baseline.baseline_counts["c"] == [3, 0]


def test_constant_numeric_column_is_still_usable() -> None:
    df = pd.DataFrame({"x": [5.0] * 50})
    baseline = build_baseline(df, n_bins=10)
    bins = baseline.features["x"]
    # No spread to scale the tails by: steps of 1 around the one value, which has a bin of its own.
    assert bins.edges == [-3.0, 1.0, 3.0, 4.0, 4.5, 5.0, np.nextafter(5.0, np.inf), 5.5, 6.0, 7.0, 9.0, 13.0]
    assert bins.low == bins.high == 5.0 and bins.std == 0.0
    own = [0] * 7 + [50] + [0] * 6
    assert baseline.baseline_counts["x"] == own
    assert bins.count(pd.Series([4.0, 5.0, 6.0])).tolist() == [0] * 5 + [1, 0, 1, 0, 0, 1] + [0] * 3
    assert drift_score("psi", baseline.baseline_counts["x"], own, bins) == 0.0
    moved = [0] * 7 + [25, 0, 25] + [0] * 4
    assert drift_score("psi", baseline.baseline_counts["x"], moved, bins) > 1.0


def test_counts_sum_to_row_count(train: pd.DataFrame) -> None:
    baseline = build_baseline(train, prediction=train["tenure"] * 2.0, prediction_name="target")
    for name, counts in baseline.baseline_counts.items():
        assert sum(counts) == len(train), name
    live = train.sample(frac=0.37, random_state=1)
    for name, live_counts in baseline.count(live, prediction=live["tenure"] * 2.0).items():
        assert live_counts.dtype == np.int64
        assert int(live_counts.sum()) == len(live), name


def test_feature_kinds(train: pd.DataFrame) -> None:
    baseline = build_baseline(train)
    kinds = {name: bins.kind for name, bins in baseline.features.items()}
    assert kinds == {
        "age": "numeric",
        "tenure": "numeric",
        "plan": "categorical",
        "churned_before": "categorical",
    }


def test_missing_column_counts_entirely_as_missing(train: pd.DataFrame) -> None:
    baseline = build_baseline(train, ["age", "plan"])
    counts = baseline.count(train[["age"]].head(30))
    assert counts["plan"].tolist() == [30] + [0] * (baseline.features["plan"].n_bins - 1)
    assert int(counts["age"].sum()) == 30


def test_prediction_is_binned_under_its_name(train: pd.DataFrame) -> None:
    prediction = pd.Series(np.linspace(0, 1, len(train)))
    baseline = build_baseline(train, ["age"], prediction=prediction, prediction_name="churn")
    assert baseline.prediction is not None
    assert baseline.prediction.name == "churn"
    assert sum(baseline.baseline_counts["churn"]) == len(train)
    assert "churn" not in baseline.features
    with_column = baseline.count(pd.DataFrame({"age": [30.0], "churn": [0.99]}))
    assert with_column["churn"].tolist() == baseline.prediction.count(pd.Series([0.99])).tolist()
    assert with_column["churn"].sum() == 1 and with_column["churn"][0] == 0
    assert "churn" not in baseline.count(pd.DataFrame({"age": [30.0]}))  # not logged != all missing


def test_round_trip_through_json(train: pd.DataFrame) -> None:
    baseline = build_baseline(
        train,
        prediction=pd.Series(np.linspace(0, 1, len(train))),
        importance={"age": 1.0, "plan": 0.25},
        n_bins=5,
        top_k=3,
    )
    data = json.loads(json.dumps(baseline.to_dict()))
    restored = Baseline.from_dict(data)
    assert restored == baseline
    live = train.tail(100)
    original_counts = baseline.count(live)
    restored_counts = restored.count(live)
    assert original_counts.keys() == restored_counts.keys()
    for name in original_counts:
        assert original_counts[name].tolist() == restored_counts[name].tolist()


def test_from_dict_rejects_inconsistent_counts(train: pd.DataFrame) -> None:
    data = build_baseline(train, ["age"]).to_dict()
    data["baseline_counts"]["age"] = [1, 2]
    with pytest.raises(ValueError, match=r"baseline_counts\['age'\] has 2 bins"):
        Baseline.from_dict(data)


def test_feature_bins_validate_themselves() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        FeatureBins(name="x", kind="numeric", edges=[2.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        FeatureBins(name="x", kind="numeric", edges=[float("nan")])
    with pytest.raises(ValueError, match="kind='ordinal'"):
        FeatureBins(name="x", kind="ordinal", edges=[])  # type: ignore[arg-type]


def test_non_numeric_values_in_numeric_feature_name_the_feature() -> None:
    bins = FeatureBins(name="income", kind="numeric", edges=[1.0])
    with pytest.raises(ValueError, match=r"feature 'income' is numeric.*'12'"):
        bins.count(pd.Series(["12", "13"]))  # numeric strings are a bug upstream, not data
    with pytest.raises(ValueError, match=r"feature 'income'.*'n/a'"):
        bins.count(pd.Series([1.0, "n/a", None], dtype=object))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bins": 1}, "n_bins=1"),
        ({"n_bins": 2.5}, "n_bins=2.5"),
        ({"top_k": 0}, "top_k=0"),
        ({"features": ["age", "salary"]}, "unknown feature\\(s\\) 'salary'"),
        ({"features": "age"}, "features='age'"),
        ({"importance": {"salary": 1.0}}, "importance given for unknown feature\\(s\\) 'salary'"),
        ({"prediction": pd.Series([1.0]), "prediction_name": "age"}, "prediction_name='age'"),
    ],
)
def test_build_baseline_validates_arguments(
    train: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_baseline(train, **kwargs)  # type: ignore[arg-type]


def test_large_batches_count_every_row() -> None:
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"x": rng.normal(size=200_000), "c": rng.choice(["a", "b", "c", "d"], size=200_000)})
    baseline = build_baseline(big.head(5000))
    counts = baseline.count(big)
    assert int(counts["x"].sum()) == int(counts["c"].sum()) == 200_000


def test_counting_arrow_columns_equals_counting_the_pandas_columns() -> None:
    """The fold bins Arrow batches directly; every Arrow type must land in the same bins as pandas'."""
    import pyarrow as pa

    rng = np.random.default_rng(5)
    train = pd.DataFrame(
        {
            "x": rng.normal(0, 1, 500),
            "n": rng.integers(0, 20, 500),
            "c": rng.choice(["a", "b", "c", "d"], 500),
            "flag": rng.choice([True, False], 500),
        }
    )
    baseline = build_baseline(train, prediction=pd.Series(rng.random(500)), prediction_name="y")
    current = pd.DataFrame(
        {
            "x": [0.1, None, 5.0, -7.0, float("nan"), 0.0] * 20,
            "n": pd.array([1, None, 30, -1, 7, 19] * 20, dtype="Int64"),
            "c": ["a", None, "zzz", "d", "b", "c"] * 20,  # unseen "zzz" is "other", None is missing
            "flag": [True, False, None, True, True, False] * 20,
        }
    )
    prediction = [0.5, 0.9, None, 0.1, 0.2, 0.3] * 20
    batch = pa.RecordBatch.from_pandas(current.add_prefix("f."), preserve_index=False)
    got = baseline.count_arrow(batch, prefix="f.", prediction=pa.array(prediction, pa.float64()))
    want = baseline.count(current, prediction=pd.Series(prediction, dtype="float64"))
    assert set(got) == set(want) == {"x", "n", "c", "flag", "y"}
    for name in want:
        assert got[name].tolist() == want[name].tolist(), name
    assert got["c"][0] == 20 and got["c"][-1] == 20, "missing and other bins"

    dictionary = pa.array(["a", "zzz", None, "b"]).dictionary_encode()
    assert baseline.features["c"].count_arrow(dictionary).tolist() == (
        baseline.features["c"].count(pd.Series(["a", "zzz", None, "b"])).tolist()
    )
    absent = baseline.count_arrow(pa.RecordBatch.from_pydict({"f.x": [1.0, 2.0]}), prefix="f.")
    assert absent["c"][0] == 2, "a feature that stops arriving counts as missing"
