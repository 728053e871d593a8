"""Date features: cycles, year, elapsed days from a fit-time reference; text dates recognised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.automl.dates import DateFeatures, looks_like_dates
from airflow_mlops.automl.preprocess import build_preprocessor, infer_feature_types


def _named(transformer: DateFeatures, out: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(out, columns=transformer.get_feature_names_out())


def test_cycles_put_december_next_to_january_and_midnight_next_to_23h() -> None:
    when = pd.DataFrame({"t": pd.to_datetime(["2024-12-31 23:30", "2025-01-01 00:30", "2025-06-30 12:00"])})
    features = DateFeatures().fit(when)
    out = _named(features, features.transform(when))
    cycle = out[["t_month_sin", "t_month_cos", "t_hour_sin", "t_hour_cos"]].to_numpy()
    near = np.linalg.norm(cycle[0] - cycle[1])
    far = np.linalg.norm(cycle[0] - cycle[2])
    assert near < 0.6 < 2.5 < far, "New Year's Eve late is close to New Year's Day early, far from June noon"
    assert out["t_year"].tolist() == [2024, 2025, 2025]
    assert np.allclose(out["t_month_sin"] ** 2 + out["t_month_cos"] ** 2, 1.0)
    # 2024-12-31 was a Tuesday (weekday 1 of 7).
    assert out.loc[0, "t_weekday_sin"] == pytest.approx(np.sin(2 * np.pi / 7))


def test_elapsed_days_count_from_the_earliest_training_timestamp_fixed_at_fit() -> None:
    train = pd.DataFrame({"t": ["2024-01-10", "2024-01-01", "2024-03-01"]})
    features = DateFeatures().fit(train)
    later = pd.DataFrame({"t": ["2025-01-01", "2024-01-01"]})
    out = _named(features, features.transform(later))
    assert out["t_elapsed_days"].tolist() == [366.0, 0.0], "the reference stays the training minimum"
    refit = DateFeatures().fit(later)
    assert _named(refit, refit.transform(later))["t_elapsed_days"].tolist() == [366.0, 0.0]


def test_hour_features_only_where_training_had_times_of_day() -> None:
    frame = pd.DataFrame(
        {"day": ["2024-01-01", "2024-02-03"], "stamp": ["2024-01-01 08:15", "2024-02-03 17:00"]}
    )
    names = list(DateFeatures().fit(frame).get_feature_names_out())
    assert "day_hour_sin" not in names and "stamp_hour_sin" in names
    assert names.count("day_elapsed_days") == 1 and names[0] == "day_year"


def test_missing_and_unparseable_values_are_missing_in_every_part_then_imputed() -> None:
    train = pd.DataFrame(
        {"t": pd.to_datetime(["2024-01-01", "2024-06-01", None, "2024-09-01"]), "y": [0, 1, 0, 1]}
    )
    features = DateFeatures().fit(train[["t"]])
    out = features.transform(pd.DataFrame({"t": [None, "not a date", "2024-06-01T00:00:00Z"]}))
    assert np.isnan(out[:2]).all(), "missing and garbage give NaN everywhere"
    assert not np.isnan(out[2]).any()
    pre = build_preprocessor(infer_feature_types(train, "y"), scale=False).fit(train[["t"]], train["y"])
    served = pre.transform(pd.DataFrame({"t": ["garbage", "2024-06-01"]}))
    assert not np.isnan(served).any(), "the imputer fills them, with a was-missing indicator"
    names = list(pre.get_feature_names_out())
    assert any("missingindicator" in name for name in names)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2024-03-01", "2024-03-05", None, "2023-12-31"], True),
        (["03/01/2024 10:00", "12/31/2023 23:59"], True),
        (["1 Mar 2024", "15 Apr 2024"], True),
        (["March", "April", "May"], False),  # dateutil would make these this year's months
        (["10", "20", "30"], False),
        (["red", "2024-01-01", "blue", "green"], False),
        (["A-12", "B-7", "C-99"], False),
        (["10:30", "11:45", "7:05 pm"], False),  # times of day alone would land on today's date
        (["3.14", "2.71"], False),
        ([None, None], False),
    ],
)
def test_text_is_a_date_column_only_when_nearly_all_of_it_parses(
    values: list[str | None], expected: bool
) -> None:
    assert looks_like_dates(pd.Series(values, dtype=object)) is expected


def test_text_dates_are_inferred_as_datetime_and_match_datetime64() -> None:
    text = pd.Series(["2024-03-01 10:00", "2024-07-04 18:30", None] * 10)
    df = pd.DataFrame({"as_text": text, "as_dt": pd.to_datetime(text), "y": range(30)})
    assert infer_feature_types(df, "y") == {"as_text": "datetime", "as_dt": "datetime"}
    features = DateFeatures().fit(df[["as_text", "as_dt"]])
    out = features.transform(df[["as_text", "as_dt"]])
    half = out.shape[1] // 2
    assert np.allclose(out[:, :half], out[:, half:], equal_nan=True)


def test_weekday_and_day_of_year_are_also_plain_numbers_for_trees() -> None:
    when = pd.DataFrame({"t": ["2024-12-25", "2025-01-01", "2024-07-04", "2024-03-01"]})
    features = DateFeatures().fit(when)
    out = _named(features, features.transform(when))
    # Christmas 2024 was a Wednesday, New Year 2025 a Wednesday, 4 July 2024 a Thursday; 2024 is a leap year.
    assert out["t_weekday"].tolist() == [2.0, 2.0, 3.0, 4.0]
    assert out["t_day_of_year"].tolist() == [360.0, 1.0, 186.0, 61.0]
    assert list(features.get_feature_names_out())[-3:] == ["t_weekday", "t_day_of_year", "t_elapsed_days"]
    missing = features.transform(pd.DataFrame({"t": [None]}))
    assert np.isnan(missing).all()


def test_a_transformer_fitted_before_the_plain_parts_keeps_its_columns() -> None:
    """Registered models were fitted on the older set of parts; their pipelines must still line up."""
    when = pd.DataFrame({"t": ["2024-12-25 10:00", "2025-01-01 08:00"]})
    features = DateFeatures().fit(when)
    new_width = features.transform(when).shape[1]
    del features.ordinal_days_  # as unpickled from a model saved before the attribute existed
    old = features.transform(when)
    names = list(features.get_feature_names_out())
    assert old.shape[1] == len(names) == new_width - 2
    assert "t_weekday" not in names and "t_day_of_year" not in names and "t_weekday_sin" in names
