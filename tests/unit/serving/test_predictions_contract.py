"""The prediction contract over real HTTP: signature checks, passthrough, association ids,
prediction warnings and the data-collection setting, each against the real app under uvicorn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
import pytest
from serving_helpers import Live, serve

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment, ModelRef
from airflow_mlops.monitoring.warning_boundaries import (
    BASELINE_KEY,
    default_boundaries,
    holdout_boundaries,
    with_boundaries,
)
from airflow_mlops.prediction_log import WARNING_COLUMN, list_log_files, read_log_files
from airflow_mlops.registry import load_predictor

if TYPE_CHECKING:
    from conftest import RegisteredModels

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


class CountingLoader:
    """The real predictor, counting the rows it is asked to score: refused input must score none."""

    def __init__(self) -> None:
        self.rows_scored = 0

    def __call__(self, ref: ModelRef) -> Any:
        settings = get_settings()
        predictor = load_predictor(
            ref.id, tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
        )
        outer = self

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(predictor, name)

            def predict(self, x: pd.DataFrame) -> Any:
                outer.rows_scored += len(x)
                return predictor.predict(x)

        return Counting()


@pytest.fixture
def counting() -> CountingLoader:
    return CountingLoader()


@pytest.fixture
def churn(models: RegisteredModels, counting: CountingLoader) -> Iterator[Live]:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "churn")
    with serve(deployment, loader=counting) as live:
        yield live


def _frame(n: int, seed: int = 3) -> pd.DataFrame:
    frame = make_churn(n, seed=seed, start=T0, hours=2).drop(columns=["churned"])
    frame["event_time"] = frame["event_time"].map(lambda t: t.isoformat())
    for column in ("contract", "payment_method", "internet_service"):
        frame[column] = frame[column].astype(object)
    return frame


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    as_object = frame.astype(object)
    return as_object.where(frame.notna(), None).to_dict(orient="records")  # type: ignore[no-any-return]


def _post(live: Live, records: list[dict[str, Any]], **params: Any) -> httpx.Response:
    return live.client.post(
        f"/predApi/v1.0/deployments/{live.deployment.id}/predictions", json=records, params=params
    )


def _logged(live: Live) -> pd.DataFrame:
    live.app.state.prediction_log.flush()
    return read_log_files(list_log_files(live.settings.prediction_log_dir, live.deployment.id))


# ---- the signature -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("monthly_charges", "ninety", r"row 2: column 'monthly_charges' value 'ninety' is not a number"),
        ("tenure_months", {"months": 3}, r"row 2: column 'tenure_months' holds an object; expected a number"),
        ("support_calls", True, r"row 2: column 'support_calls' holds True; expected a number"),
        ("contract", ["month-to-month"], r"row 2: column 'contract' holds an array; expected a plain value"),
    ],
)
def test_a_wrong_value_is_refused_naming_row_and_column_and_never_scored(
    churn: Live, counting: CountingLoader, column: str, value: Any, expected: str
) -> None:
    records = _records(_frame(4))
    records[2][column] = value
    response = _post(churn, records)
    assert response.status_code == 422, response.text
    assert re.search(expected, response.json()["detail"]), response.json()["detail"]
    assert counting.rows_scored == 0
    assert _logged(churn).empty


def test_a_missing_column_is_refused_and_never_scored(churn: Live, counting: CountingLoader) -> None:
    records = _records(_frame(3).drop(columns=["tenure_months"]))
    response = _post(churn, records)
    assert response.status_code == 422
    assert "column 'tenure_months' is missing" in response.json()["detail"]
    assert counting.rows_scored == 0


def test_a_word_in_a_numeric_csv_column_names_its_row(churn: Live, counting: CountingLoader) -> None:
    frame = _frame(5)
    frame["total_charges"] = frame["total_charges"].astype(object)
    frame.loc[3, "total_charges"] = "n/a (new)"
    response = churn.predict(frame.to_csv(index=False), "text/csv")
    assert response.status_code == 422
    assert "row 3: column 'total_charges' value 'n/a (new)' is not a number" in response.json()["detail"]
    assert counting.rows_scored == 0


def test_numbers_sent_as_text_and_categories_sent_as_numbers_are_converted(churn: Live) -> None:
    frame = _frame(4)
    plain = _post(churn, _records(frame))
    records = _records(frame)
    for record in records:
        for column in ("monthly_charges", "support_calls"):
            if record[column] is not None:
                record[column] = str(record[column])
    records[0]["contract"] = 12  # an unseen category, sent as a number: scored, not refused
    texts = _post(churn, records)
    assert texts.status_code == 200, texts.text
    got, want = texts.json()["data"], plain.json()["data"]
    for a, b in zip(got[1:], want[1:], strict=True):
        assert [v["value"] for v in a["predictionValues"]] == pytest.approx(
            [v["value"] for v in b["predictionValues"]]
        )
    assert sum(v["value"] for v in got[0]["predictionValues"]) == pytest.approx(1.0)


def test_nulls_reach_the_imputer_and_are_scored(churn: Live) -> None:
    records = _records(_frame(3))
    records[1]["monthly_charges"] = None
    records[1]["contract"] = None
    response = _post(churn, records)
    assert response.status_code == 200, response.text


def test_an_oversize_body_is_413_before_it_is_read_whole(
    churn: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow_mlops.serving.prediction_route as prediction_route

    monkeypatch.setattr(prediction_route, "MAX_BODY_BYTES", 1000)
    body = b"[" + b",".join([b'{"tenure_months": 1}'] * 200) + b"]"
    declared = churn.predict(body)
    assert declared.status_code == 413
    assert "1000 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream itself is cut off
        for start in range(0, len(body), 256):
            yield body[start : start + 256]

    streamed = churn.client.post(
        f"/predApi/v1.0/deployments/{churn.deployment.id}/predictions",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


# ---- passthrough ---------------------------------------------------------------------------------


def test_passthrough_columns_are_copied_into_each_row(churn: Live) -> None:
    frame = _frame(5)
    response = _post(churn, _records(frame), passthroughColumns=["customer_id", "event_time"])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [r["passthroughValues"] for r in data] == [
        {"customer_id": c, "event_time": t}
        for c, t in zip(frame["customer_id"], frame["event_time"], strict=True)
    ]

    everything = _post(churn, _records(frame), passthroughColumnsSet="all")
    assert everything.status_code == 200
    first = everything.json()["data"][0]["passthroughValues"]
    assert list(first) == list(frame.columns)
    assert first["tenure_months"] == frame["tenure_months"].iloc[0]

    plain = _post(churn, _records(frame))
    assert "passthroughValues" not in plain.json()["data"][0]


def test_passthrough_errors_are_422(churn: Live) -> None:
    frame = _frame(2)
    missing = _post(churn, _records(frame), passthroughColumns=["account"])
    assert missing.status_code == 422
    assert "passthrough column 'account' is missing" in missing.json()["detail"]
    both = _post(churn, _records(frame), passthroughColumns=["customer_id"], passthroughColumnsSet="all")
    assert both.status_code == 422
    bad_set = _post(churn, _records(frame), passthroughColumnsSet="some")
    assert bad_set.status_code == 422


def test_passthrough_nulls_are_json_nulls(churn: Live) -> None:
    frame = _frame(3).drop(columns=["event_time"])
    frame["note"] = [1.5, None, 2.5]
    response = churn.predict(frame.to_csv(index=False), "text/csv", passthroughColumns=["note"])
    assert response.status_code == 200, response.text
    assert [r["passthroughValues"]["note"] for r in response.json()["data"]] == [1.5, None, 2.5]


# ---- association ids -------------------------------------------------------------------------------


def test_association_ids_come_from_the_configured_column_and_are_logged(
    models: RegisteredModels, counting: CountingLoader
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "assoc")
    deployment.update_association_id_settings(column_names=["customer_id"])
    with serve(deployment, loader=counting) as live:
        frame = _frame(6)
        records = _records(frame)
        records[4]["customer_id"] = None  # not required: this row gets a generated id
        response = _post(live, records)
        assert response.status_code == 200, response.text
        ids = [r["associationId"] for r in response.json()["data"]]
        assert ids[:4] == list(frame["customer_id"][:4]) and ids[5] == frame["customer_id"].iloc[5]
        assert re.fullmatch(r"[0-9a-f]{32}", ids[4])

        absent = _post(live, _records(frame.drop(columns=["customer_id"])))
        generated = [r["associationId"] for r in absent.json()["data"]]
        assert len(set(generated)) == 6 and all(re.fullmatch(r"[0-9a-f]{32}", g) for g in generated)

        logged = _logged(live)
        assert sorted(logged["association_id"]) == sorted(ids + generated)


def test_a_required_association_id_is_enforced(models: RegisteredModels, counting: CountingLoader) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "assoc-required")
    deployment.update_association_id_settings(
        column_names=["customer_id"], required_in_prediction_requests=True
    )
    with serve(deployment, loader=counting) as live:
        frame = _frame(3)
        absent = _post(live, _records(frame.drop(columns=["customer_id"])))
        assert absent.status_code == 422
        assert "association id column 'customer_id' is missing" in absent.json()["detail"]
        records = _records(frame)
        records[1]["customer_id"] = ""
        empty = _post(live, records)
        assert empty.status_code == 422
        assert "row 1: association id column 'customer_id' is empty" in empty.json()["detail"]
        records[1]["customer_id"] = "x" * 129
        long = _post(live, records)
        assert long.status_code == 422 and "at most 128" in long.json()["detail"]
        assert counting.rows_scored == 0
        records[1]["customer_id"] = 1234  # numbers are ids too, as text
        ok = _post(live, records)
        assert ok.status_code == 200
        assert ok.json()["data"][1]["associationId"] == "1234"


# ---- prediction warnings ---------------------------------------------------------------------------


def _charges_rows(n: int, seed: int) -> pd.DataFrame:
    frame = _frame(n, seed=seed)
    return frame.drop(columns=["monthly_charges"]).assign(churned=0)


def test_default_boundaries_are_tukey_fences_of_holdout_predictions() -> None:
    bounds = default_boundaries([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (bounds["lower"], bounds["upper"]) == (-1.0, 7.0)  # Q1 2, Q3 4, IQR 2
    flat = default_boundaries([5.0, 5.0, 5.0])
    assert (flat["lower"], flat["upper"]) == (5.0, 5.0)


def test_regression_predictions_outside_the_boundaries_are_flagged(
    models: RegisteredModels, counting: CountingLoader
) -> None:
    holdout = make_churn(400, seed=21).drop(columns=["customer_id", "event_time"])
    bounds = holdout_boundaries(models.charges, holdout)
    assert bounds is not None and bounds["lower"] < bounds["upper"]
    assert holdout_boundaries(models.churn_v1, holdout) is None  # classification: no warnings
    baseline = with_boundaries({"version": 1, "features": [], "baseline_counts": {}}, bounds)
    deployment = Deployment.create_from_registered_model_version(models.charges, "charges", baseline=baseline)
    assert deployment.get_baseline()[BASELINE_KEY] == bounds  # type: ignore[index]

    frame = _charges_rows(40, seed=4)
    frame.loc[:4, "total_charges"] = frame["total_charges"].max() * 50  # far outside training
    with serve(deployment, loader=counting) as live:
        off = _post(live, _records(frame))
        assert off.status_code == 200, off.text
        assert "predictionWarning" not in off.json()["data"][0]  # disabled by default
        # Warnings off: no flag logged (unknown, not "not an outlier").
        assert WARNING_COLUMN not in _logged(live).columns

    deployment.update_prediction_warning_settings(True)
    with serve(deployment, loader=counting) as live:
        data = _post(live, _records(frame)).json()["data"]
        values = np.array([r["prediction"] for r in data])
        flags = [r["predictionWarning"]["isOutlierPrediction"] for r in data]
        expected = (values < bounds["lower"]) | (values > bounds["upper"])
        assert flags == expected.tolist()
        assert any(flags) and not all(flags)
        logged = _logged(live)
        # The warnings-off request's rows come first, with no flag; then one flag per row, in order.
        assert logged[WARNING_COLUMN].tolist() == [None] * len(frame) + flags
        assert logged["prediction"].tolist()[len(frame) :] == pytest.approx(values.tolist())

    median = float(np.median(values))
    deployment.update_prediction_warning_settings(True, lower_boundary=median, upper_boundary=median + 1e9)
    with serve(deployment, loader=counting) as live:
        data = _post(live, _records(frame)).json()["data"]
        assert [r["predictionWarning"]["isOutlierPrediction"] for r in data] == (values < median).tolist()


# ---- data collection ---------------------------------------------------------------------------------


def test_with_data_collection_off_only_counts_and_latencies_are_logged(
    models: RegisteredModels, counting: CountingLoader
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "private")
    deployment.update_association_id_settings(column_names=["customer_id"])
    deployment.update_predictions_data_collection_settings(False)
    with serve(deployment, loader=counting) as live:
        frame = _frame(7)
        response = _post(live, _records(frame), timestampColumn="event_time")
        assert response.status_code == 200
        logged = _logged(live)
    assert len(logged) == 7
    assert not [c for c in logged.columns if c.startswith("f.")]
    assert logged["prediction"].isna().all()
    assert set(logged["data_collected"]) == {False}
    assert set(logged["status_code"]) == {200} and (logged["latency_ms"] > 0).all()
    assert sorted(logged["association_id"]) == sorted(frame["customer_id"])  # actuals can still be joined
