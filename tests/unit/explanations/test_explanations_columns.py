"""Transformed features map back to the user's columns: one-hot, indicators, date parts, encodings."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from explanation_data import features, fitted, frame
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder

from airflow_mlops.explanations import ModelExplainer, group_matrix, source_columns


def test_every_transformed_feature_comes_from_one_original_column() -> None:
    model = fitted("linear", "binary")
    names = features("binary")
    sources = source_columns(model[0])
    outputs = model[0].get_feature_names_out()
    assert len(sources) == len(outputs)
    counts = Counter(sources)
    assert set(counts) == set(names)
    assert counts["contract"] == 3  # one-hot: one column per contract type
    assert counts["total_charges"] == 2  # the value and its "was missing" indicator
    assert counts["event_time"] >= 7  # year, month and weekday cycles, day, hour cycle, elapsed days
    assert counts["city"] == 1  # 40 values: target-encoded into one number
    for source, output in zip(sources, outputs, strict=True):
        assert source in output  # e.g. "categorical__contract_Two year" came from "contract"


def test_a_one_hot_categorical_and_a_date_are_one_feature_each_in_an_explanation() -> None:
    model = fitted("linear", "binary")
    names = features("binary")
    background = frame()[names].head(60)
    rows = frame()[names].tail(5).reset_index(drop=True)
    explanation = ModelExplainer(model, background).explain(rows)
    assert explanation.features == names
    assert explanation.features.count("contract") == 1 and explanation.features.count("event_time") == 1

    # The linear model's per-output SHAP values are coef * (z - mean z): the column's contribution is
    # the sum over the outputs it made, computed here without shap.
    transformed = model[0].transform(rows)
    reference = model[0].transform(background).mean(axis=0)
    per_output = model[-1].coef_[0] * (transformed - reference)
    sources = np.asarray(source_columns(model[0]))
    for column in ("contract", "event_time", "total_charges", "city"):
        expected = per_output[:, sources == column].sum(axis=1)
        np.testing.assert_allclose(explanation.values[:, names.index(column)], expected, atol=1e-9)


def test_a_column_named_like_the_start_of_another_keeps_its_own_outputs() -> None:
    data = pd.DataFrame({"age": ["30", "40", "30"], "age_group": ["young", "old", "old"]})
    encoder = ColumnTransformer([("onehot", OneHotEncoder(sparse_output=False), ["age", "age_group"])])
    encoder.fit(data)
    assert source_columns(encoder) == ["age", "age", "age_group", "age_group"]
    matrix = group_matrix(source_columns(encoder), ["age_group", "age"])
    np.testing.assert_array_equal(matrix, [[0, 1], [0, 1], [1, 0], [1, 0]])


def test_an_unfitted_transformer_or_a_foreign_column_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        source_columns(ColumnTransformer([("onehot", OneHotEncoder(), ["a"])]))
    with pytest.raises(ValueError, match=r"columns \['b'\] that are not model features"):
        group_matrix(["a", "b"], ["a"])
