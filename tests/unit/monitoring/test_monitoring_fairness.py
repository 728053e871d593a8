"""Fairness folded from the prediction log: counts equal a direct computation, metrics equal Fairlearn's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_ratio,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score
from sqlalchemy import select

from airflow_mlops.config import Settings, get_settings
from airflow_mlops.monitoring import FairnessSettings, GroupCounts, build_baseline, fairness_health
from airflow_mlops.monitoring.actuals import submit_actuals
from airflow_mlops.monitoring.fairness import score_feature
from airflow_mlops.monitoring.fold import fold_new_predictions, join_actuals
from airflow_mlops.monitoring.reads import get_fairness, get_fairness_scores_over_time
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
from airflow_mlops.prediction_log import PredictionLogWriter
from airflow_mlops.store import FairnessHourRow, session_scope

DEP = "fair1"
H0 = datetime(2024, 3, 1, 10, tzinfo=UTC)
HOURS = 3
POSITIVE, NEGATIVE = "yes", "no"
FEATURES = ("gender", "region")


def _rows(seed: int = 3, per_hour: int = 700) -> pd.DataFrame:
    """Traffic with a planted bias: group F is scored lower; ~85% carry an association id."""
    rng = np.random.default_rng(seed)
    frames = []
    for h in range(HOURS):
        n = per_hour
        gender = rng.choice(np.array(["F", "M", "X", None], dtype=object), n, p=[0.45, 0.45, 0.07, 0.03])
        region = rng.choice(["north", "south"], n)
        shift = np.where(gender == "F", -0.15, 0.05)
        p = np.clip(rng.beta(2.0, 2.0, n) + shift, 0.0, 1.0)
        actual = np.where(rng.random(n) < np.clip(p + 0.1, 0, 1), POSITIVE, NEGATIVE)
        frames.append(
            pd.DataFrame(
                {
                    "ts": [H0 + timedelta(hours=h, seconds=int(s)) for s in rng.integers(0, 3600, n)],
                    "gender": gender,
                    "region": region,
                    "tenure": rng.normal(30, 5, n).round(1),
                    "p": p,
                    "aid": [f"{h}-{i}" if rng.random() < 0.85 else None for i in range(n)],
                    "actual": actual,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _setup(settings: Settings, rows: pd.DataFrame, fairness: dict[str, Any]) -> None:
    train = rows[["gender", "region", "tenure"]].head(500)
    baseline = build_baseline(train, prediction=pd.Series(rows["p"].head(500)), prediction_name="churned")
    baseline.positive_class = POSITIVE
    insert_deployment_with_baseline(
        settings.store_url, DEP, baseline, target_name="churned", settings={"bias_and_fairness": fairness}
    )
    log = [
        {
            "timestamp": r.ts,
            "association_id": r.aid,
            "model_version": "1",
            "prediction": float(r.p),
            "status_code": 200,
            "latency_ms": 1.0,
            "features": {"gender": r.gender, "region": r.region, "tenure": float(r.tenure)},
        }
        for r in rows.itertuples()
    ]
    with PredictionLogWriter(Path(settings.prediction_log_dir), max_rows=1_000_000, max_delay_s=60.0) as w:
        w.append(DEP, log)
    fold_new_predictions(DEP, store_url=settings.store_url, log_root=settings.prediction_log_dir)
    linked = rows[rows["aid"].notna()]
    # every other linked row gets its actual; two actuals name no prediction (they stay pending)
    actuals = [
        {"association_id": a, "actual_value": v} for a, v in zip(linked["aid"], linked["actual"], strict=True)
    ]
    actuals = [*actuals[::2], {"association_id": "nobody-1", "actual_value": POSITIVE}]
    submit_actuals(DEP, actuals, target_type="Binary", store_url=settings.store_url)
    join_actuals(DEP, store_url=settings.store_url)


def _with_actuals(rows: pd.DataFrame) -> pd.DataFrame:
    linked = rows[rows["aid"].notna()]
    joined = set(linked["aid"].iloc[::2])
    return rows.assign(joined=rows["aid"].isin(joined), group_gender=rows["gender"].fillna("(missing)"))


FAIRNESS = {
    "protected_features": list(FEATURES),
    "preferable_target_value": POSITIVE,
    "fairness_metrics_set": "proportionalParity",
    "fairness_threshold": 0.8,
    "min_group_rows": 200,
}


@pytest.fixture
def folded(mlops_home: Path) -> pd.DataFrame:
    rows = _rows()
    _setup(get_settings(), rows, FAIRNESS)
    return _with_actuals(rows)


def test_folded_counts_equal_a_direct_computation(folded: pd.DataFrame) -> None:
    settings = get_settings()
    with session_scope(settings.store_url) as session:
        stored = {
            (r.hour, r.feature, r.group_value): (
                r.predictions,
                r.predicted_positive,
                r.true_positive,
                r.false_positive,
                r.false_negative,
                r.true_negative,
                round(r.score_actual_positive, 9),
                round(r.score_actual_negative, 9),
            )
            for r in session.scalars(select(FairnessHourRow).where(FairnessHourRow.deployment_id == DEP))
        }
    expected = {}
    frame = folded.assign(hour=folded["ts"].map(lambda t: t.replace(minute=0, second=0)))
    for feature, column in (("gender", "group_gender"), ("region", "region")):
        for (hour, group), g in frame.groupby(["hour", column]):
            pos = g["p"] >= 0.5
            j = g["joined"]
            act = g["actual"] == POSITIVE
            expected[(hour, feature, group)] = (
                len(g),
                int(pos.sum()),
                int((j & pos & act).sum()),
                int((j & pos & ~act).sum()),
                int((j & ~pos & act).sum()),
                int((j & ~pos & ~act).sum()),
                round(float(g.loc[j & act, "p"].sum()), 9),
                round(float(g.loc[j & ~act, "p"].sum()), 9),
            )
    assert stored == expected
    # exactly once: a second fold and join add nothing
    fold_new_predictions(DEP, store_url=settings.store_url, log_root=settings.prediction_log_dir)
    join_actuals(DEP, store_url=settings.store_url)
    with session_scope(settings.store_url) as session:
        again = sum(r.predictions for r in session.scalars(select(FairnessHourRow)))
    assert again == 2 * len(folded)  # two protected features, every row once in each


def _fairlearn(frame: pd.DataFrame, favourable: str, column: str) -> dict[str, pd.Series]:
    """Fairlearn's per-group values with ``favourable`` as the positive label (1)."""
    fav_is_pos = favourable == POSITIVE
    y_pred = ((frame["p"] >= 0.5) == fav_is_pos).astype(int).to_numpy()
    score = (frame["p"] if fav_is_pos else 1.0 - frame["p"]).to_numpy()
    groups = frame[column].to_numpy()
    everything = MetricFrame(
        metrics={"sr": selection_rate, "count": lambda yt, yp: float(np.sum(yp))},
        y_true=np.zeros(len(frame), dtype=int),
        y_pred=y_pred,
        sensitive_features=groups,
    ).by_group
    j = frame["joined"].to_numpy()
    y_true = (frame["actual"] == favourable).astype(int).to_numpy()[j]
    labelled = MetricFrame(
        metrics={
            "tpr": true_positive_rate,
            "tnr": true_negative_rate,
            "fpr": false_positive_rate,
            "ppv": lambda yt, yp: precision_score(yt, yp, pos_label=1, zero_division=np.nan),
            "npv": lambda yt, yp: precision_score(yt, yp, pos_label=0, zero_division=np.nan),
        },
        y_true=y_true,
        y_pred=y_pred[j],
        sensitive_features=groups[j],
    ).by_group
    balance = MetricFrame(
        metrics={
            "fav_balance": lambda yt, s: float(np.mean(s[yt == 1])),
            "unfav_balance": lambda yt, s: float(np.mean(s[yt == 0])),
        },
        y_true=y_true,
        y_pred=score[j],
        sensitive_features=groups[j],
    ).by_group
    ratio = demographic_parity_ratio(np.zeros(len(frame), dtype=int), y_pred, sensitive_features=groups)
    return {
        "proportionalParity": everything["sr"],
        "equalParity": everything["count"],
        "trueFavorableRateParity": labelled["tpr"],
        "trueUnfavorableRateParity": labelled["tnr"],
        "falsePositiveRateParity": labelled["fpr"],
        "favorablePredictiveValueParity": labelled["ppv"],
        "unfavorablePredictiveValueParity": labelled["npv"],
        "favorableClassBalance": balance["fav_balance"],
        "unfavorableClassBalance": balance["unfav_balance"],
        "ratio": pd.Series([ratio]),
    }


@pytest.mark.parametrize("favourable", [POSITIVE, NEGATIVE])
def test_metrics_equal_fairlearns(folded: pd.DataFrame, favourable: str, mlops_home: Path) -> None:
    settings = get_settings()
    if favourable != POSITIVE:  # the favourable class changes after the fold: counts are re-read
        from airflow_mlops.store import DeploymentRow

        with session_scope(settings.store_url) as session:
            row = session.get(DeploymentRow, DEP)
            assert row is not None
            row.settings = {"bias_and_fairness": {**FAIRNESS, "preferable_target_value": favourable}}
    window = {"start_time": H0, "end_time": H0 + timedelta(hours=HOURS)}
    for feature, column in (("gender", "group_gender"), ("region", "region")):
        theirs = _fairlearn(folded, favourable, column)
        for metric, values in theirs.items():
            if metric == "ratio":
                continue
            ours = get_fairness(
                DEP, store_url=settings.store_url, protected_feature=feature, fairness_metric=metric, **window
            ).feature(feature, metric)
            got = {g.label: g.value for g in ours.groups}
            assert got == pytest.approx(values.to_dict(), rel=1e-12, nan_ok=True), (feature, metric)
            sizes = {g.label: g.sample_size for g in ours.groups}
            top = max(v for k, v in got.items() if v is not None and sizes[k] >= FAIRNESS["min_group_rows"])
            assert {g.label: g.relative for g in ours.groups} == pytest.approx(
                {k: v / top for k, v in got.items()}
            )
        proportional = get_fairness(DEP, store_url=settings.store_url, protected_feature=feature, **window)
        # Fairlearn's ratio is min/max over every group: ours over the same groups' values
        values = [g.value for g in proportional.feature(feature).groups if g.value is not None]
        assert min(values) / max(values) == pytest.approx(float(theirs["ratio"].iloc[0]), rel=1e-12)


def test_over_time_buckets_sum_to_the_window(folded: pd.DataFrame) -> None:
    settings = get_settings()
    over = get_fairness_scores_over_time(
        DEP,
        store_url=settings.store_url,
        start_time=H0,
        end_time=H0 + timedelta(hours=HOURS),
        bucket_size="PT1H",
        protected_feature="gender",
    )
    assert len(over.buckets) == HOURS
    for h, (_period, scores) in enumerate(over.buckets):
        hour = folded[
            (folded["ts"] >= H0 + timedelta(hours=h)) & (folded["ts"] < H0 + timedelta(hours=h + 1))
        ]
        expected = hour.groupby("group_gender")["p"].apply(lambda p: float((p >= 0.5).mean())).to_dict()
        assert {g.label: g.value for g in scores.groups} == pytest.approx(expected)
    assert {g.label: g.sample_size for g in over.summary.groups} == folded[
        "group_gender"
    ].value_counts().to_dict()
    body = over.to_json()
    assert body["protectedFeature"] == "gender" and body["summary"]["metricName"] == "proportionalParity"


def test_the_planted_bias_fails_fairness_health(folded: pd.DataFrame) -> None:
    result = get_fairness(
        DEP, store_url=get_settings().store_url, start_time=H0, end_time=H0 + timedelta(hours=HOURS)
    )
    assert result.status == "failing"
    assert "gender=F: proportionalParity" in result.message
    gender = result.feature("gender")
    assert gender.privileged == "M"  # X and (missing) have fewer than min_group_rows rows
    assert [g.label for g in gender.failing] == ["F"]


# ---- the health rule on counts chosen by hand ------------------------------------------------------


def _counts(n: int, favourable: int) -> GroupCounts:
    return GroupCounts(predictions=n, predicted_positive=favourable)


def _judge(groups: dict[str, GroupCounts], **settings: Any) -> tuple[str, str]:
    fs = FairnessSettings(
        protected_features=["g"], preferable_target_value=POSITIVE, min_group_rows=100, **settings
    )
    scores = score_feature(
        "g",
        "proportionalParity",
        groups,
        favourable_is_positive=True,
        threshold=fs.fairness_threshold,
        min_group_rows=fs.min_group_rows,
    )
    status, message = fairness_health([scores], fs)
    return str(status), message


def test_health_rules() -> None:
    # 0.40 / 0.50 = 0.80: exactly the four-fifths rule passes
    assert _judge({"a": _counts(1000, 500), "b": _counts(1000, 400)})[0] == "passing"
    status, message = _judge({"a": _counts(1000, 500), "b": _counts(1000, 399)})
    assert status == "failing" and "g=b" in message and "0.80 of g=a's" in message
    # a group below the threshold with too few rows is not judged; one judged group alone: unknown
    assert _judge({"a": _counts(1000, 500), "b": _counts(99, 1)})[0] == "unknown"
    # warning and failing counts
    three = {"a": _counts(1000, 500), "b": _counts(1000, 300), "c": _counts(1000, 500)}
    assert _judge(three, warning_groups=1, failing_groups=2)[0] == "warning"
    three["c"] = _counts(1000, 100)
    assert _judge(three, warning_groups=1, failing_groups=2)[0] == "failing"
    assert _judge(three, fairness_threshold=0.1)[0] == "passing"


# ---- the monitoring pass: fairnessHealth, its history, and a retraining request ---------------------


def test_a_monitoring_pass_stores_fairness_health_and_requests_a_retrain(folded: pd.DataFrame) -> None:
    from airflow_mlops.deployments import Deployment
    from airflow_mlops.services import monitor_and_request

    settings = get_settings()
    summary = monitor_and_request(
        DEP, settings, window_end=H0 + timedelta(hours=HOURS), window_hours=HOURS, report=False
    )
    assert summary["fairness_status"] == "failing" and "gender=F" in summary["fairness_message"]
    deployment = Deployment.get(DEP, store_url=settings.store_url)
    assert deployment.fairness_health["status"] == "failing"
    assert deployment.fairness_health["start_date"] == H0.isoformat()
    history = deployment.get_health_history("fairness")
    assert [h["status"] for h in history] == ["failing"]
    assert history[0]["details"]["features"][0]["protectedFeature"] == "gender"

    # no holdout metrics (accuracy unknown) and unshifted traffic (drift passing): fairness is the reason
    assert (summary["accuracy_status"], summary["drift_status"]) == ("unknown", "passing")
    request = summary["retrain_request"]
    assert (request["reason"], request["status"], request["origin"]) == ("OTHER", "requested", "monitor")
    evidence = request["evidence"]
    assert evidence["kind"] == "fairness" and evidence["message"] == summary["fairness_message"]
    gender = next(f for f in evidence["fairness"] if f["protectedFeature"] == "gender")
    assert [s["label"] for s in gender["failing"]] == ["F"]


def test_a_pass_without_protected_features_is_unknown(mlops_home: Path) -> None:
    from airflow_mlops.services import monitor_deployment

    settings = get_settings()
    rows = _rows(per_hour=50)
    _setup(settings, rows, {})
    result = monitor_deployment(DEP, settings, window_end=H0 + timedelta(hours=HOURS), window_hours=HOURS)
    assert result.fairness_status == "unknown" and "off" in result.fairness_message
    with session_scope(settings.store_url) as session:
        assert session.scalars(select(FairnessHourRow)).first() is None  # nothing folded for fairness
