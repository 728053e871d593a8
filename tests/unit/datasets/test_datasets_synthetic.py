"""The synthetic churn data must behave as the demos and monitoring tests assume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from airflow_mlops.datasets import make_churn, write_churn_csvs

NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "senior"]
CATEGORICAL = ["contract", "payment_method", "internet_service"]
EXPECTED_COLUMNS = [
    "customer_id",
    *NUMERIC[:4],
    *CATEGORICAL,
    "senior",
    "event_time",
    "churned",
]


def _logistic_model() -> Pipeline:
    encode = make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
        (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    )
    return make_pipeline(encode, LogisticRegression(max_iter=1000))


def _auc(model: Pipeline, frame: pd.DataFrame) -> float:
    return float(roc_auc_score(frame["churned"], model.predict_proba(frame[NUMERIC + CATEGORICAL])[:, 1]))


def test_schema_and_types() -> None:
    frame = make_churn(2000, seed=1)
    assert list(frame.columns) == EXPECTED_COLUMNS
    assert len(frame) == 2000
    assert frame["customer_id"].is_unique
    for column in ("tenure_months", "support_calls", "senior", "churned"):
        assert pd.api.types.is_integer_dtype(frame[column]), column
    assert pd.api.types.is_float_dtype(frame["monthly_charges"])
    assert set(frame["contract"].astype(str)) == {"month-to-month", "one-year", "two-year"}
    assert set(frame["payment_method"].astype(str)) == {
        "electronic check",
        "mailed check",
        "bank transfer",
        "credit card",
    }
    assert set(frame["internet_service"].astype(str)) == {"DSL", "fiber", "none"}
    assert set(frame["senior"]) == {0, 1}
    assert set(frame["churned"]) == {0, 1}
    assert 0 < frame["total_charges"].isna().mean() < 0.1
    assert frame["tenure_months"].between(0, 72).all()


def test_same_seed_same_frame() -> None:
    pd.testing.assert_frame_equal(make_churn(500, seed=7), make_churn(500, seed=7))
    pd.testing.assert_frame_equal(
        make_churn(500, seed=7, period="shifted"), make_churn(500, seed=7, period="shifted")
    )


def test_other_seed_or_period_gives_other_rows_and_ids() -> None:
    base = make_churn(500, seed=7)
    other_seed = make_churn(500, seed=8)
    concept = make_churn(500, seed=7, period="concept")
    assert not np.array_equal(base["tenure_months"].to_numpy(), other_seed["tenure_months"].to_numpy())
    assert not np.array_equal(base["tenure_months"].to_numpy(), concept["tenure_months"].to_numpy())
    assert set(base["customer_id"]).isdisjoint(other_seed["customer_id"])
    assert set(base["customer_id"]).isdisjoint(concept["customer_id"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_churn_rate_near_a_quarter(seed: int) -> None:
    rate = make_churn(4000, seed=seed)["churned"].mean()
    assert 0.2 <= rate <= 0.3


def test_concept_churn_rate_stays_plausible() -> None:
    rate = make_churn(4000, seed=0, period="concept")["churned"].mean()
    assert 0.15 <= rate <= 0.35


def test_shifted_period_moves_feature_distributions() -> None:
    reference = make_churn(5000, seed=0)
    shifted = make_churn(5000, seed=0, period="shifted")
    assert reference["tenure_months"].mean() - shifted["tenure_months"].mean() > 6
    assert shifted["monthly_charges"].mean() - reference["monthly_charges"].mean() > 5
    month_to_month = (reference["contract"] == "month-to-month").mean()
    assert (shifted["contract"] == "month-to-month").mean() - month_to_month > 0.1
    assert (shifted["internet_service"] == "fiber").mean() - (
        reference["internet_service"] == "fiber"
    ).mean() > 0.1


def test_concept_period_keeps_features_but_changes_the_relation() -> None:
    reference = make_churn(6000, seed=0)
    concept = make_churn(6000, seed=1, period="concept")
    shifted = make_churn(6000, seed=1, period="shifted")
    assert abs(reference["tenure_months"].mean() - concept["tenure_months"].mean()) < 1.5
    assert abs(reference["monthly_charges"].mean() - concept["monthly_charges"].mean()) < 1.5
    share = (reference["contract"] == "month-to-month").mean()
    assert abs((concept["contract"] == "month-to-month").mean() - share) < 0.03

    model = _logistic_model().fit(reference[NUMERIC + CATEGORICAL], reference["churned"])
    # Same relation: the reference model still ranks drifted data well...
    assert _auc(model, shifted) > 0.72
    # ...but not data whose relation to the target changed.
    assert _auc(model, concept) < 0.6


def test_logistic_regression_learns_the_reference_relation() -> None:
    train = make_churn(4000, seed=10)
    test = make_churn(2000, seed=11)
    model = _logistic_model().fit(train[NUMERIC + CATEGORICAL], train["churned"])
    assert _auc(model, test) > 0.75


def test_event_time_is_utc_within_window_and_sorted() -> None:
    start = datetime(2024, 3, 1, 6, tzinfo=UTC)
    frame = make_churn(1000, seed=0, start=start, hours=6)
    times = frame["event_time"]
    assert str(times.dt.tz) == "UTC"
    assert times.min() >= pd.Timestamp(start)
    assert times.max() < pd.Timestamp(start + timedelta(hours=6))
    assert times.max() - times.min() > pd.Timedelta(hours=5)  # spread, not bunched
    assert times.is_monotonic_increasing


def test_event_time_defaults_and_naive_start() -> None:
    default = make_churn(10, seed=0)["event_time"]
    assert default.min() >= pd.Timestamp("2024-01-01T00:00:00Z")
    naive = make_churn(10, seed=0, start=datetime(2024, 5, 1))["event_time"]
    aware = make_churn(10, seed=0, start=datetime(2024, 5, 1, tzinfo=UTC))["event_time"]
    pd.testing.assert_series_equal(naive, aware)


@pytest.mark.parametrize(
    "kwargs",
    [{"n_rows": -1}, {"n_rows": 10, "period": "future"}, {"n_rows": 10, "hours": 0}],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_churn(**kwargs)  # type: ignore[arg-type]


def test_write_churn_csvs(tmp_path: Path) -> None:
    paths = write_churn_csvs(tmp_path / "out", n_train=300, n_live=120, seed=5)
    assert paths == {
        "reference": tmp_path / "out" / "churn_reference.csv",
        "shifted": tmp_path / "out" / "churn_shifted.csv",
    }
    reference = pd.read_csv(paths["reference"])
    shifted = pd.read_csv(paths["shifted"])
    assert len(reference) == 300
    assert len(shifted) == 120
    assert list(reference.columns) == EXPECTED_COLUMNS
    assert reference["customer_id"].tolist() == make_churn(300, seed=5)["customer_id"].tolist()
    # Live traffic comes after the training window.
    assert pd.to_datetime(shifted["event_time"]).min() >= pd.to_datetime(reference["event_time"]).max()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "churn_reference.csv",
        "churn_shifted.csv",
    ]
