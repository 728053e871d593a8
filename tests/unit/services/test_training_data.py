"""A retrain's training set: the policy's window of source rows plus logged predictions joined with actuals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.datasets.synthetic import FEATURE_COLUMNS
from airflow_mlops.deployments import Deployment
from airflow_mlops.prediction_log import PredictionLogWriter
from airflow_mlops.services import MIN_ROWS, build_training_set

if TYPE_CHECKING:
    from conftest import RegisteredModels

AS_OF = datetime(2024, 6, 3, tzinfo=UTC)
FEATURES = list(FEATURE_COLUMNS)


@pytest.fixture
def deployment(models: RegisteredModels) -> Deployment:
    d = Deployment.create_from_registered_model_version(models.churn_v1, "Churn", actor="alice")
    d.update_retraining_settings(data_window="P1D", timestamp_column="event_time", actor="alice")
    return d


def _log(deployment_id: str, frame: pd.DataFrame, **overrides: object) -> None:
    rows = []
    for record in frame.to_dict(orient="records"):
        rows.append(
            {
                "timestamp": record["event_time"].to_pydatetime(),
                "association_id": record["customer_id"],
                "model_version": "1",
                "prediction": 0.3,
                "status_code": 200,
                "latency_ms": 5.0,
                "features": {f: record[f] for f in FEATURES},
                **overrides,
            }
        )
    with PredictionLogWriter(get_settings().prediction_log_dir) as writer:
        writer.append(deployment_id, rows)


def test_source_rows_and_labelled_predictions_of_the_window(deployment: Deployment, tmp_path: Path) -> None:
    source = tmp_path / "warehouse.csv"
    history = make_churn(600, seed=1, start=AS_OF - timedelta(days=2), hours=48)
    history.to_csv(source, index=False)
    deployment.update_retraining_settings(source=str(source), actor="alice")

    traffic = make_churn(300, seed=2, period="concept", start=AS_OF - timedelta(hours=30), hours=30)
    _log(deployment.id, traffic)
    errors = make_churn(20, seed=3, start=AS_OF - timedelta(hours=5), hours=1)
    _log(deployment.id, errors, status_code=500)  # the server failed them: not training data
    labelled = traffic.iloc[::2]  # actuals arrive for every other prediction
    deployment.submit_actuals(
        pd.DataFrame({"association_id": labelled["customer_id"], "actual_value": labelled["churned"]})
    )
    deployment.submit_actuals(
        pd.DataFrame({"association_id": errors["customer_id"], "actual_value": errors["churned"]})
    )

    out = tmp_path / "out" / "training.parquet"
    built = build_training_set(deployment.id, as_of=AS_OF, out_path=out)

    start = AS_OF - timedelta(days=1)
    in_window = history[(history["event_time"] > start) & (history["event_time"] <= AS_OF)]
    joined = labelled[(labelled["event_time"] > start) & (labelled["event_time"] <= AS_OF)]
    assert 0 < len(in_window) < len(history) and 0 < len(joined) < len(labelled)
    assert (built.rows_from_source, built.rows_from_actuals) == (len(in_window), len(joined))
    assert built.rows == len(in_window) + len(joined)
    assert (built.window_start, built.window_end) == (start.isoformat(), AS_OF.isoformat())

    frame = pd.read_parquet(out)
    assert list(frame.columns) == [*FEATURES, "churned", "event_time"]  # no id: only what the model uses
    assert frame["event_time"].is_monotonic_increasing
    assert frame["churned"].dtype.kind == "i", "actuals are read back as the model's class labels"
    expected = pd.concat(
        [in_window[[*FEATURES, "churned", "event_time"]], joined[[*FEATURES, "churned", "event_time"]]]
    )
    got = frame.sort_values(["event_time", "tenure_months", "monthly_charges"]).reset_index(drop=True)
    want = expected.sort_values(["event_time", "tenure_months", "monthly_charges"]).reset_index(drop=True)
    assert got["churned"].tolist() == want["churned"].tolist()
    assert got["monthly_charges"].tolist() == pytest.approx(want["monthly_charges"].tolist())
    assert got["contract"].astype(str).tolist() == want["contract"].astype(str).tolist()


def test_actuals_alone_without_a_window_or_source(models: RegisteredModels, tmp_path: Path) -> None:
    d = Deployment.create_from_registered_model_version(models.churn_v1, "Churn", actor="alice")
    traffic = make_churn(200, seed=4, start=AS_OF - timedelta(days=20), hours=24 * 19)
    _log(d.id, traffic)
    d.submit_actuals(
        pd.DataFrame({"association_id": traffic["customer_id"], "actual_value": traffic["churned"]})
    )
    built = build_training_set(d.id, as_of=AS_OF, out_path=tmp_path / "t.parquet")
    assert (built.rows, built.rows_from_source, built.time_column, built.window_start) == (200, 0, None, None)
    assert list(pd.read_parquet(tmp_path / "t.parquet").columns) == [*FEATURES, "churned"]


def test_too_few_rows_and_bad_sources_are_named_and_write_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    out = tmp_path / "training.parquet"
    with pytest.raises(ValueError, match=rf"holds 0 labelled rows .* need at least {MIN_ROWS}"):
        build_training_set(deployment.id, as_of=AS_OF, out_path=out)

    lacking = tmp_path / "lacking.csv"
    make_churn(50, seed=1).drop(columns=["support_calls"]).to_csv(lacking, index=False)
    with pytest.raises(ValueError, match=r"lacking.csv' lacks column\(s\) \['support_calls'\]"):
        build_training_set(deployment.id, as_of=AS_OF, out_path=out, source=str(lacking))

    bad_time = tmp_path / "bad_time.csv"
    frame = make_churn(50, seed=1).astype({"event_time": object})
    frame.loc[7, "event_time"] = "yesterday"
    frame.to_csv(bad_time, index=False)
    with pytest.raises(
        ValueError, match=r"bad_time.csv: column 'event_time' .* 'yesterday' \(in data row 8\)"
    ):
        build_training_set(deployment.id, as_of=AS_OF, out_path=out, source=str(bad_time))

    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_training_set(deployment.id, as_of=AS_OF, out_path=out, source=str(tmp_path / "nope.csv"))
    with pytest.raises(ValueError, match="naive"):
        build_training_set(deployment.id, as_of=datetime(2024, 1, 1), out_path=out)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
