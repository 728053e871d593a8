"""Service stats, drift and accuracy reads over folded buckets: equal to a direct computation on the rows,
idempotent under re-runs, correct under late data; actuals joined whichever side comes first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.deployments import Deployment, FeatureDrift
from airflow_mlops.monitoring import (
    Baseline,
    DriftHealthSettings,
    build_baseline,
    drift_score,
    judge_features,
)
from airflow_mlops.monitoring.fold import fold_new_predictions, join_actuals
from airflow_mlops.monitoring.reads import bucket_bounds, judge_feature_drift, resolve_window, window_counts
from airflow_mlops.monitoring.service import hist_quantile, latency_hist
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
from airflow_mlops.prediction_log import PredictionLogWriter
from airflow_mlops.services import monitor_deployment

DEP = "dep1"
TARGET = "churned"
H10 = datetime(2024, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def settings(mlops_home: Path) -> Settings:
    return get_settings()


def _deploy(settings: Settings, *, holdout_logloss: float | None = 0.5) -> None:
    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(40.0, 10.0, n),
            "plan": rng.choice(["basic", "pro", "enterprise"], n, p=[0.6, 0.3, 0.1]),
            "empty": [None] * n,
        }
    )
    frame["empty"] = frame["empty"].astype(float)
    baseline = build_baseline(
        frame,
        prediction=pd.Series(rng.beta(2.0, 5.0, n)),
        prediction_name=TARGET,
        importance={"tenure": 1.0, "plan": 0.2, "empty": 0.0},
    )
    baseline.task, baseline.positive_class = "binary", "yes"
    baseline.holdout_metrics = {"LogLoss": holdout_logloss}
    insert_deployment_with_baseline(
        settings.store_url, DEP, baseline, label="churn", registered_model_name="churn", target_name=TARGET
    )


def _rows(n: int, hour: datetime, *, seed: int, shift: float = 0.0, ids: bool = True) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        request = i // 4  # four rows per request
        status = 200 if request % 10 else (500 if request % 20 == 0 else 422)
        rows.append(
            {
                "timestamp": hour + timedelta(seconds=int(rng.integers(0, 3600))),
                "association_id": f"{seed}-{i}" if ids else None,
                "model_version": "1",
                "prediction": float(rng.beta(2.0, 5.0)),
                "status_code": status,
                "latency_ms": float(rng.lognormal(3.0, 1.5)) if i % 4 == 0 else None,
                "request_id": f"{seed}-r{request}",
                "caller": f"user{request % 3}",
                "cache_hit": bool(request % 2),
                "features": {
                    "tenure": float(rng.normal(40.0 + shift, 10.0)),
                    "plan": str(rng.choice(["basic", "pro", "enterprise", "new-plan"])),
                    "empty": None,
                },
            }
        )
    for i, row in enumerate(rows):  # one latency per request, like the server writes
        if row["latency_ms"] is None:
            row["latency_ms"] = rows[i - i % 4]["latency_ms"]
    return rows


def _write(settings: Settings, rows: list[dict[str, Any]]) -> None:
    with PredictionLogWriter(settings.prediction_log_dir) as writer:
        writer.append(DEP, rows)


def _fold(settings: Settings) -> None:
    fold_new_predictions(DEP, store_url=settings.store_url, log_root=settings.prediction_log_dir)
    join_actuals(DEP, store_url=settings.store_url)


def test_windows_and_buckets_follow_datarobot() -> None:
    now = datetime(2024, 3, 8, 10, 17, tzinfo=UTC)
    assert resolve_window(None, None, now=now) == (
        datetime(2024, 3, 1, 11, tzinfo=UTC),
        datetime(2024, 3, 8, 11, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match=r"end_time='2024-03-01T10:30:00\+00:00'.*top of an hour"):
        resolve_window(None, "2024-03-01T10:30:00")
    with pytest.raises(ValueError, match=r"bucket_size='P2D'.*'PT1H', 'P1D', 'P7D', 'P1M'"):
        bucket_bounds(H10, H10 + timedelta(days=1), "P2D")
    months = bucket_bounds(datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC), "P1M")
    assert [lo.date().isoformat() for lo, _ in months] == ["2024-01-31", "2024-02-29", "2024-03-29"]


def test_latency_quantile_is_within_one_bin_of_numpy() -> None:
    values = np.random.default_rng(1).lognormal(3.0, 1.5, 5000)
    for q in (0.5, 0.9, 0.99):
        assert hist_quantile(latency_hist(values), q) == pytest.approx(np.quantile(values, q), rel=0.12)
    assert hist_quantile(latency_hist(np.zeros(0)), 0.5) is None


def test_service_stats_equal_a_direct_computation(settings: Settings) -> None:
    _deploy(settings)
    rows = _rows(400, H10, seed=1) + _rows(200, H10 + timedelta(hours=1), seed=2)
    _write(settings, rows)
    _fold(settings)
    d = Deployment.get(DEP, store_url=settings.store_url)
    stats = d.get_service_stats(start_time=H10, end_time=H10 + timedelta(hours=2)).metrics
    frame = pd.DataFrame(rows)
    requests = frame.groupby("request_id").first()
    assert stats["totalPredictions"] == int((frame["status_code"] < 400).sum())
    assert stats["totalRequests"] == len(requests)
    assert stats["slowRequests"] == int((requests["latency_ms"] > 1000).sum())
    assert stats["userErrorRate"] == pytest.approx(
        ((requests.status_code >= 400) & (requests.status_code < 500)).mean()
    )
    assert stats["serverErrorRate"] == pytest.approx((requests.status_code >= 500).mean())
    assert stats["numConsumers"] == 3
    assert stats["cacheHitRatio"] == pytest.approx(requests["cache_hit"].mean())
    assert stats["responseTime"] == pytest.approx(np.median(requests["latency_ms"]), rel=0.12)
    per_minute = requests.assign(hour=requests.timestamp.dt.floor("h"), minute=requests.timestamp.dt.minute)
    load = (
        per_minute.groupby(["hour", "minute"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=range(60), fill_value=0)
    )
    assert stats["peakLoad"] == int(load.to_numpy().max())
    assert stats["medianLoad"] == pytest.approx(float(np.median(load.to_numpy())))
    over = d.get_service_stats_over_time(
        "totalRequests", "PT1H", start_time=H10, end_time=H10 + timedelta(hours=3)
    )
    assert list(over.bucket_values.values()) == [100, 50, None]  # the empty hour is None, not 0
    daily = d.get_service_stats_over_time(
        "totalPredictions", "P1D", start_time=H10, end_time=H10 + timedelta(hours=3)
    )
    assert list(daily.bucket_values.values()) == [stats["totalPredictions"]]  # a single bucket
    empty = d.get_service_stats(start_time=H10 - timedelta(hours=5), end_time=H10).metrics
    assert empty["totalRequests"] == 0 and empty["responseTime"] is None and empty["serverErrorRate"] is None
    with pytest.raises(ValueError, match=r"'latency'.*'totalPredictions'"):
        d.get_service_stats_over_time("latency")


def test_drift_reads_equal_scores_of_direct_counts(settings: Settings) -> None:
    _deploy(settings)
    rows = _rows(400, H10, seed=1, shift=15.0)
    _write(settings, rows)
    _fold(settings)
    d = Deployment.get(DEP, store_url=settings.store_url)
    baseline = d.get_baseline()
    assert baseline is not None
    b = Baseline.from_dict(baseline)
    ok = pd.DataFrame([r["features"] for r in rows if r["status_code"] < 400])
    preds = np.array([r["prediction"] for r in rows if r["status_code"] < 400])
    window = {"start_time": H10, "end_time": H10 + timedelta(hours=1)}
    for metric in ("psi", "kl_divergence", "dissimilarity", "hellinger", "js_divergence"):
        drift = {
            f.name: f for f in FeatureDrift.list(DEP, metric=metric, store_url=settings.store_url, **window)
        }
        for name in ("tenure", "plan", "empty"):
            bins = b.features[name]
            want = drift_score(metric, b.baseline_counts[name], bins.count(ok[name]), bins)
            assert drift[name].drift_score == pytest.approx(want, rel=1e-12)
        target = d.get_target_drift(metric=metric, **window)
        assert target.drift_score == pytest.approx(
            drift_score(metric, b.baseline_counts[TARGET], b.prediction.count(preds), b.prediction)
        )  # type: ignore[union-attr]
    drift = FeatureDrift.list(DEP, store_url=settings.store_url, **window)
    assert [f.name for f in drift] == ["tenure", "plan", "empty"]  # most important first
    assert drift[0].feature_impact == 1.0 and drift[0].drift_score > 0.15
    assert drift[2].drift_score == 0.0  # all missing in training and now: no drift
    assert drift[1].sample_size == len(ok)  # "new-plan" (never seen in training) counts, as "other"
    over = d.get_drift_over_time(
        "tenure", bucket_size="PT1H", start_time=H10, end_time=H10 + timedelta(hours=2)
    )
    assert list(over.bucket_values.values()) == [pytest.approx(drift[0].drift_score), None]
    empty = d.get_target_drift(start_time=H10 - timedelta(hours=2), end_time=H10)
    assert empty.drift_score is None and empty.sample_size == 0
    d.update_drift_tracking_settings(target_drift_enabled=False, feature_drift_enabled=False, actor="test")
    assert FeatureDrift.list(DEP, store_url=settings.store_url, **window) == []
    off = Deployment.get(DEP, store_url=settings.store_url).get_target_drift(**window)
    assert off.drift_score is None and off.tracking_enabled is False


def test_judge_feature_drift_judges_the_window_counts_with_the_deployments_rule(settings: Settings) -> None:
    _deploy(settings)
    _write(settings, _rows(400, H10, seed=1, shift=15.0) + _rows(400, H10 + timedelta(hours=1), seed=2))
    _fold(settings)
    b = Baseline.from_dict(Deployment.get(DEP, store_url=settings.store_url).get_baseline() or {})
    hour = (H10, H10 + timedelta(hours=1))
    counts = window_counts(settings.store_url, DEP, "1", *hour)
    assert set(counts) == {"tenure", "plan", "empty", TARGET}
    assert window_counts(settings.store_url, DEP, "1", *hour, features=["plan"]).keys() == {"plan"}
    both = window_counts(settings.store_url, DEP, "1", H10, H10 + timedelta(hours=2), ["tenure"])["tenure"]
    second = window_counts(settings.store_url, DEP, "1", hour[1], hour[1] + timedelta(hours=1))["tenure"]
    assert both.tolist() == (counts["tenure"] + second).tolist()

    verdicts = judge_feature_drift(
        DEP, store_url=settings.store_url, version="1", start_time=H10, end_time=hour[1]
    )
    assert [v.name for v in verdicts] == ["tenure", "plan", "empty"]  # features only, baseline order
    assert verdicts == list(judge_features(b, {n: counts[n] for n in ("tenure", "plan", "empty")}).values())
    tenure, plan, empty = verdicts
    assert tenure.drifted and tenure.statistic == "wasserstein" and tenure.sample_size == 360  # no 4xx/5xx
    assert plan.drifted and "values not among the baseline's categories" in plan.reason  # "new-plan"
    assert not empty.drifted  # all missing then and now
    by_psi = judge_feature_drift(
        DEP,
        store_url=settings.store_url,
        version="1",
        start_time=H10,
        end_time=hour[1],
        settings=DriftHealthSettings(rule="threshold"),
    )
    assert [(v.statistic, v.threshold) for v in by_psi] == [("psi", 0.15)] * 3
    quiet = judge_feature_drift(
        DEP,
        store_url=settings.store_url,
        version="1",
        start_time=hour[0] - timedelta(hours=3),
        end_time=hour[0],
    )
    assert [v.score for v in quiet] == [None] * 3 and [v.sample_size for v in quiet] == [0] * 3
    assert judge_feature_drift(DEP, store_url=settings.store_url, version="2") == []  # no baseline


def test_rerun_and_late_data_never_double_count(settings: Settings) -> None:
    _deploy(settings)
    _write(settings, _rows(200, H10, seed=1))
    end = H10 + timedelta(hours=2)
    first = monitor_deployment(DEP, settings, window_end=end, window_hours=2)
    again = monitor_deployment(DEP, settings, window_end=end, window_hours=2)
    assert (first.folded_rows, again.folded_rows) == (200, 0)
    assert again.service_stats == first.service_stats and again.drift == first.drift
    _write(settings, _rows(100, H10, seed=3))  # late rows for an hour already folded
    late = monitor_deployment(DEP, settings, window_end=end, window_hours=2)
    assert late.folded_rows == 100
    assert late.service_stats["totalRequests"] == first.service_stats["totalRequests"] + 25  # type: ignore[index]


def test_actuals_join_either_order_and_unknown_ids_are_reported(settings: Settings) -> None:
    _deploy(settings)
    rows = _rows(200, H10, seed=1)
    d = Deployment.get(DEP, store_url=settings.store_url)
    ok = [r for r in rows if r["status_code"] < 400]
    labels = np.random.default_rng(5).choice(["yes", "no"], len(ok))
    early = [
        {"association_id": r["association_id"], "actual_value": str(y)}
        for r, y in zip(ok[:50], labels[:50], strict=True)
    ]
    answer = d.submit_actuals([*early, {"association_id": "nobody", "actual_value": "yes"}], batch_size=7)
    assert answer["stored"] == 51 and answer["unknown_association_ids"] == 51  # no prediction folded yet
    _write(settings, rows)
    _fold(settings)
    late = [
        {"association_id": r["association_id"], "actual_value": str(y)}
        for r, y in zip(ok[50:], labels[50:], strict=True)
    ]
    answer = d.submit_actuals(pd.DataFrame(late))
    assert answer["unknown_association_ids"] == 0
    _fold(settings)
    _fold(settings)  # joining again adds nothing
    again = d.submit_actuals(early[:1])
    assert again["ignored_already_joined"] == 1
    window = {"start_time": H10, "end_time": H10 + timedelta(hours=1)}
    acc = d.get_accuracy(**window)
    assert acc.pairs_used == len(ok) and acc.pending_actuals == 1  # "nobody" stays pending, reported
    p = np.array([r["prediction"] for r in ok])
    y = (labels == "yes").astype(float)
    assert acc["AUC"] == pytest.approx(skm.roc_auc_score(y, p))
    assert acc["LogLoss"] == pytest.approx(skm.log_loss(y, p))
    over = d.get_accuracy_over_time("LogLoss", "PT1H", start_time=H10, end_time=H10 + timedelta(hours=2))
    assert list(over.bucket_values.values()) == [pytest.approx(skm.log_loss(y, p)), None]
    with pytest.raises(ValueError, match=r"row 0: actual_value"):
        d.submit_actuals([{"association_id": "x", "actual_value": None}])
    with pytest.raises(ValueError, match=r"batch_size=0"):
        d.submit_actuals(early, batch_size=0)


def test_humility_counts_are_the_flags_of_scored_rows(settings: Settings) -> None:
    from airflow_mlops.monitoring.reads import get_humility_stats_over_time

    _deploy(settings)
    rows = _rows(120, H10, seed=2)
    flags = np.random.default_rng(9).choice([True, False, None], len(rows))
    for row, flag in zip(rows, flags, strict=True):
        row["prediction_warning"] = flag  # None: scored with warnings off
    _write(settings, rows)
    _fold(settings)
    checked = [f for r, f in zip(rows, flags, strict=True) if r["status_code"] < 400 and f is not None]
    over = get_humility_stats_over_time(
        DEP,
        store_url=settings.store_url,
        bucket_size="PT1H",
        start_time=H10,
        end_time=H10 + timedelta(hours=2),
    )
    assert [b["rowCount"] for b in over.buckets] == [len(checked), 0]
    assert [b["outlierPredictions"] for b in over.buckets] == [sum(checked), 0]
    assert over.buckets[0]["value"] == pytest.approx(sum(checked) / len(checked))
    assert over.buckets[1]["value"] is None
    # Error rows carry no prediction: a flag on one (never written by the server) does not count.
    assert len(checked) < sum(f is not None for f in flags)
