from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from airflow_mlops.automl.preprocess import (
    FeatureType,
    as_category_codes,
    as_category_strings,
    build_preprocessor,
    infer_feature_types,
    is_code_column,
)


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "count": rng.integers(0, 10, n),
            "flag": rng.random(n) > 0.5,
            "color": rng.choice(["red", "green", "blue"], n),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n)),
            "empty_num": np.full(n, np.nan),
            "empty_cat": pd.Series([None] * n, dtype=object),
            "y": rng.integers(0, 2, n),
        }
    )
    df.loc[::9, "num"] = np.nan
    df.loc[::7, "color"] = None
    return df


def test_infer_feature_types() -> None:
    types = infer_feature_types(_frame(), "y", exclude=["count"])
    assert types == {
        "num": "numeric",
        "flag": "numeric",
        "color": "categorical",
        "size": "categorical",
        "empty_num": "numeric",
        "empty_cat": "categorical",
    }


def test_infer_refuses_unknown_target_exclude_and_unsupported_dtypes() -> None:
    df = _frame()
    with pytest.raises(ValueError, match="'nope' is not a column"):
        infer_feature_types(df, "nope")
    with pytest.raises(ValueError, match="'ghost'"):
        infer_feature_types(df, "y", exclude=["ghost"])
    df["wait"] = pd.Timedelta("1h")
    with pytest.raises(ValueError, match=r"'wait' \(timedelta64"):
        infer_feature_types(df, "y")
    assert "wait" not in infer_feature_types(df, "y", exclude=["wait"])


def test_unseen_categories_and_all_missing_columns_pass_through() -> None:
    df = _frame()
    types = infer_feature_types(df, "y")
    pre = build_preprocessor(types, scale=True)
    train = pre.fit_transform(df[list(types)])
    names = list(pre.get_feature_names_out())

    new = df[list(types)].head(4).copy()
    new["color"] = ["purple", "red", None, "purple"]
    new["size"] = pd.Categorical(["XXL", "S", "M", "L"])
    new["empty_num"] = [1.0, 2.0, np.nan, 3.0]
    new["empty_cat"] = ["now", "present", None, "x"]
    out = pre.transform(new)

    assert out.shape == (4, train.shape[1])
    assert np.isfinite(out).all()
    color_columns = [i for i, name in enumerate(names) if name.startswith("categorical__color_")]
    known = [i for i in color_columns if names[i].split("color_", 1)[1] in ("red", "green", "blue")]
    # An unseen colour activates none of the known colours' columns.
    assert out[0, known].sum() == 0
    assert out[1, known].sum() == 1
    # The all-missing numeric column keeps an output column, so width never changes.
    assert "numeric__empty_num" in names


def test_every_spelling_of_missing_is_one_category() -> None:
    frame = pd.DataFrame(
        {
            "a": pd.Series(["x", None, np.nan, pd.NA, 3, "x"], dtype=object),
            "b": pd.array(["p", None, "q", "p", None, "q"], dtype="string"),
        }
    )
    out = as_category_codes(frame)
    assert out[:, 0].tolist()[::5] == ["x", "x"]
    assert pd.isna(out[1:4, 0]).all()
    assert out[4, 0] == "3"
    both: dict[str, FeatureType] = {"a": "categorical", "b": "categorical"}
    pre = build_preprocessor(both, scale=False)
    encoded = pre.fit_transform(frame)
    names = list(pre.get_feature_names_out())
    missing = names.index("categorical__a_missing")
    assert encoded[:, missing].tolist() == [0, 1, 1, 1, 0, 0]


def test_scaling_is_optional() -> None:
    df = _frame()
    types: dict[str, FeatureType] = {"num": "numeric", "count": "numeric"}
    scaled = build_preprocessor(types, scale=True).fit_transform(df)
    raw = build_preprocessor(types, scale=False).fit_transform(df)
    assert np.allclose(scaled[:, 1].mean(), 0.0)
    assert raw[:, 1].mean() == pytest.approx(df["count"].mean())


def test_bad_feature_types_are_refused() -> None:
    with pytest.raises(ValueError, match="'text'"):
        build_preprocessor({"a": "text"}, scale=False)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="empty"):
        build_preprocessor({}, scale=False)


def test_pipeline_predicts_on_rows_training_never_saw() -> None:
    df = _frame()
    types = infer_feature_types(df, "y")
    pipe = Pipeline([("pre", build_preprocessor(types, scale=True)), ("model", LogisticRegression())]).fit(
        df[list(types)], df["y"]
    )
    new = df[list(types)].head(2).copy()
    new["color"] = "never-seen"
    new["empty_cat"] = "suddenly-there"
    proba = pipe.predict_proba(new)
    assert proba.shape == (2, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_high_cardinality_categories_are_target_encoded() -> None:
    rng = np.random.default_rng(0)
    n = 400
    ids = np.array([f"shop{i:03d}" for i in rng.integers(0, 100, n)])
    odd = np.array([int(shop[-1]) % 2 == 1 for shop in ids])
    y = (odd ^ (rng.random(n) < 0.1)).astype(int)
    df = pd.DataFrame({"shop": ids, "colour": rng.choice(["red", "blue"], n), "y": y})
    types = infer_feature_types(df, "y")
    assert types == {"shop": "high_cardinality", "colour": "categorical"}
    pre = build_preprocessor(types, scale=False)
    out = pre.fit_transform(df[["shop", "colour"]], df["y"])
    names = list(pre.get_feature_names_out())
    assert out.shape[1] == 3, f"one encoded column, not one per shop: {names}"
    assert any(name.startswith("high_cardinality__shop") for name in names)
    # An unseen shop gets the overall target mean, not an error.
    unseen = pre.transform(pd.DataFrame({"shop": ["shop999", None], "colour": ["green", "red"]}))
    encoded = unseen[:, names.index(next(n for n in names if n.startswith("high_cardinality")))]
    assert np.allclose(encoded, df["y"].mean(), atol=0.05)


def test_datetimes_are_expanded_and_strings_parse_the_same() -> None:
    when = pd.Series(pd.to_datetime(["2024-03-01 10:00", None, "2024-12-25 18:30"]))
    df = pd.DataFrame({"when": when, "y": [0, 1, 0]})
    types = infer_feature_types(df, "y")
    assert types == {"when": "datetime"}
    pre = build_preprocessor(types, scale=False).fit(df[["when"]], df["y"])
    names = list(pre.get_feature_names_out())
    assert "datetime__when_month_sin" in names and "datetime__when_hour_cos" in names
    as_text = pre.transform(pd.DataFrame({"when": ["2024-03-01T10:00:00", None, "not a date"]}))
    trained = pre.transform(df[["when"]])
    assert np.allclose(as_text[0], trained[0]), "a JSON string means the same instant"
    assert np.allclose(as_text[1], as_text[2]), "unparseable counts as missing"
    # March is a quarter of the way round the year's circle.
    assert np.isclose(as_text[0, names.index("datetime__when_month_sin")], np.sin(2 * np.pi * 2 / 12))


def test_numbers_that_are_codes_are_categories_by_the_stated_rule() -> None:
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame(
        {
            "rooms": rng.integers(1, 8, n),  # a dense range of counts: its order means something
            "industry": rng.choice([110, 230, 450, 720, 990], n),  # spaced like labels
            "store_id": rng.integers(1, 6, n),  # named like an identifier
            "agentCode": rng.integers(1, 300, n).astype(float),  # camelCase identifier, many values
            "price": rng.normal(100, 10, n),  # not whole numbers
            "flag": rng.integers(0, 2, n),  # two values: a 0/1 column needs no one-hot
            "y": rng.integers(0, 2, n),
        }
    )
    df.loc[::10, "industry"] = np.nan  # a gap makes the codes float64; still codes
    assert is_code_column("industry", df["industry"])
    assert not is_code_column("rooms", df["rooms"])
    assert infer_feature_types(df, "y") == {
        "rooms": "numeric",
        "industry": "categorical",
        "store_id": "categorical",
        "agentCode": "high_cardinality",
        "price": "numeric",
        "flag": "numeric",
    }


def test_codes_spelled_as_floats_in_training_match_ints_in_a_request() -> None:
    """A code column with gaps is float64 in training (3.0) but arrives as 3 in JSON."""
    assert as_category_codes(pd.DataFrame({"c": [3.0, np.nan, 10.0]})).tolist() == [["3"], [np.nan], ["10"]]
    assert as_category_codes(pd.DataFrame({"c": [3, 10]})).tolist() == [["3"], ["10"]]
    assert as_category_codes(pd.DataFrame({"c": [2.5, "x"]})).tolist() == [["2.5"], ["x"]]
    assert as_category_codes(pd.DataFrame({"c": [3.0, "x"]}, dtype=object)).tolist() == [["3"], ["x"]]
    text = pd.DataFrame({"c": pd.Series(["a", None, "b"], dtype=object)})  # a request's column
    assert as_category_codes(text)[[0, 2], 0].tolist() == ["a", "b"] and pd.isna(
        as_category_codes(text)[1, 0]
    )
    train = pd.DataFrame({"code": [110.0, 230.0, np.nan, 450.0] * 10, "y": [0, 1, 0, 1] * 10})
    pre = build_preprocessor(infer_feature_types(train, "y"), scale=False).fit(train[["code"]], train["y"])
    request = pd.DataFrame({"code": [230]})
    assert np.array_equal(pre.transform(request), pre.transform(train[["code"]].iloc[[1]]))


def test_an_array_of_text_and_none_is_spelled_as_the_frame_would_be() -> None:
    """The array shortcut (what serving hands the pipeline) answers what the DataFrame route answers."""
    array = np.array([["a", None], [None, "b"], ["c", "d"]], dtype=object)
    fast = as_category_codes(array)
    through_a_frame = as_category_codes(pd.DataFrame(array))
    assert fast.dtype == object and fast.shape == (3, 2)
    assert [repr(v) for v in fast.ravel()] == [repr(v) for v in through_a_frame.ravel()]
    assert [repr(v) for v in fast.ravel()] == ["'a'", "nan", "nan", "'b'", "'c'", "'d'"]
    assert array[0, 1] is None  # the input is left as it was
    mixed = np.array([["a", 3.0], [None, np.nan]], dtype=object)  # numbers: the frame route spells them
    assert as_category_codes(mixed)[0].tolist() == ["a", "3"]


def test_models_registered_before_keep_their_spelling_of_categories() -> None:
    """Their fitted categories say "3.0": the function their pipelines name must still spell it so."""
    out = as_category_strings(pd.DataFrame({"c": pd.Series([3.0, None, "x"], dtype=object)}))
    assert out[0, 0] == "3.0" and pd.isna(out[1, 0]) and out[2, 0] == "x"
