from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from airflow_mlops.automl.preprocess import (
    FeatureType,
    as_category_strings,
    build_preprocessor,
    infer_feature_types,
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
    df["when"] = pd.Timestamp("2024-01-01")
    with pytest.raises(ValueError, match="'when'"):
        infer_feature_types(df, "y")
    assert "when" not in infer_feature_types(df, "y", exclude=["when"])


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
    out = as_category_strings(frame)
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
