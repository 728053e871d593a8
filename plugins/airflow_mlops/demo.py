"""The demo story: several simulated days of a churn deployment that keeps its model good by itself.

Headless, on the embedded default, through the real DAGs (``dag.test()``) and a
real prediction server on loopback:

* day 0: ``mlops_train`` ingests the warehouse's labelled customers, sweeps
  models with Optuna, registers the best and deploys it with a retraining
  policy (a one-day data window, a 12-hour cool-down, AUC better by 0.03, a
  weekly refresh on Tuesdays at 00:00);
* day 1, stable: reference traffic and its actuals; every health passes;
* day 2, a product launch: a new ``fiber-gigabit`` plan no training row has
  (data drift); drift health fails, ``mlops_monitor`` requests a
  ``DATA_DRIFT`` retrain, ``mlops_retrain`` trains on the warehouse's launch-day
  rows, the challenger beats the champion and replaces it;
* day 3, a concept change: same features, a new relation to churn, seen only
  through the actuals; accuracy health fails, an ``ACCURACY`` retrain trains
  on the day's predictions joined with their actuals and replaces the model;
* day 4, steady again; the weekly refresh (``mlops_refresh``) fires at the end
  of the day; its challenger is not better by the margin and is not deployed.

Governance runs alongside: the deployment watches fairness towards senior
customers (:data:`FAIRNESS`: proportional parity of the favourable outcome,
"stays", under the four-fifths rule) and each day's monitoring pass judges it.
Seniors do churn more in this data, so a model can fall just below the rule:
the policy leaves that to a person (OTHER is not among its trigger reasons) and
the request is recorded as suppressed with the evidence. At the end one
prediction is asked with its SHAP explanation.

The summary prints the timeline (health per day, each request, its decision
and both models' scores), the leaderboard, drift per feature, the explained
prediction, the fairness scores and the model history. The integration test runs :func:`run_story` with smaller sizes and
checks the same facts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from airflow_mlops.config import Settings
from airflow_mlops.dag_runs import asset_events, run_dag, xcom_result
from airflow_mlops.datasets import make_churn
from airflow_mlops.datasets.synthetic import Period
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.windows import drift_scores
from airflow_mlops.operators.monitoring import RETRAIN_REQUESTS
from airflow_mlops.security import create_token

#: Thursday 2026-01-01: the training day; live days follow, and day 4 ends on Tuesday 00:00.
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
EXCLUDE = ["customer_id", "event_time"]
TARGET = "churned"
#: The deployment's retraining policy in the story. A failing fairness health (reason OTHER) is left
#: to a person: retraining on the same data would learn the same bias, so the policy does not trigger on
#: it and the monitor's request is recorded as suppressed, with the failing groups as its evidence.
POLICY: dict[str, Any] = {
    "trigger_reasons": ["ACCURACY", "DATA_DRIFT", "ERRORS", "SCHEDULED_REFRESH", "SCORING_SPEED"],
    "data_window": "P1D",
    "timestamp_column": "event_time",
    "cool_down": "PT12H",
    "metric": "AUC",
    "margin": 0.03,
    "replacement": "automatic",
    "refresh_schedule": "0 0 * * 2",
}
#: The deployment's bias and fairness settings in the story: seniors against everyone else, the
#: favourable outcome being that the model says a customer stays (class 0), four-fifths rule.
FAIRNESS: dict[str, Any] = {
    "protected_features": ["senior"],
    "fairness_metric_set": "proportionalParity",
    "fairness_threshold": 0.8,
    "preferable_target_value": 0,
}
#: Explanations asked for the story's one explained prediction.
EXPLANATIONS = 3


@dataclass(frozen=True)
class Day:
    """One simulated day of traffic: which world its customers come from, and whether actuals arrive."""

    number: int
    name: str
    period: Period
    features: Period | None
    actuals: bool
    refresh: bool = False

    @property
    def start(self) -> datetime:
        return DAY0 + timedelta(days=self.number)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)


DAYS = (
    Day(1, "stable", "reference", None, actuals=True),
    Day(2, "launch (data drift)", "launch", None, actuals=False),
    Day(3, "concept change", "concept", "launch", actuals=True),
    Day(4, "steady, weekly refresh", "concept", "launch", actuals=True, refresh=True),
)


@dataclass
class DayResult:
    day: int
    name: str
    date: str
    predictions: int
    actuals: int
    service: str
    drift: str
    accuracy: str
    drift_message: str
    accuracy_message: str
    fairness: str = "unknown"
    fairness_message: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    served_model: str = ""


@dataclass
class StoryResult:
    deployment_id: str
    label: str
    leaderboard: list[dict[str, Any]]
    first_model_id: str
    final_model_id: str
    predictions_sent: int
    days: list[DayResult]
    requests: list[dict[str, Any]]
    periods: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    registered_versions: list[str] = field(default_factory=list)
    #: One scored row with its explanation, as the prediction route answered it (``data[0]``).
    explained: dict[str, Any] = field(default_factory=dict)
    #: The deployment's fairness over the last day (``get_fairness``: scores per group and health).
    fairness: dict[str, Any] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PredictionServer:
    """``airflow-mlops serve`` in a child process on loopback, stopped with SIGTERM."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PredictionServer:
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "airflow_mlops.cli", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"prediction server exited with {self._proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("prediction server did not answer /health within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()


def send_traffic(
    url: str, deployment_id: str, frame: pd.DataFrame, *, token: str, batch: int = 100
) -> tuple[int, str]:
    """Score ``frame`` (without its labels) in batches; returns rows scored and the model that answered."""
    scored, model_id = 0, ""
    live = frame.drop(columns=[TARGET])
    with httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, len(live), batch):
            chunk = live.iloc[start : start + batch]
            response = client.post(
                f"/predApi/v1.0/deployments/{deployment_id}/predictions",
                params={"timestampColumn": "event_time"},
                content=chunk.to_json(orient="records", date_format="iso"),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            scored += len(response.json()["data"])
            model_id = response.headers["X-MLOps-Model-Id"]
    return scored, model_id


def wait_for_model(
    url: str, deployment_id: str, probe: pd.DataFrame, model_id: str, *, token: str, timeout_s: float = 20
) -> str:
    """Score one row until the server answers with ``model_id`` (the hot swap has happened)."""
    deadline = time.monotonic() + timeout_s
    served = ""
    while time.monotonic() < deadline:
        _, served = send_traffic(url, deployment_id, probe.head(1), token=token)
        if served == model_id:
            break
        time.sleep(0.25)
    return served


def explain_one(url: str, deployment_id: str, row: pd.DataFrame, *, token: str) -> dict[str, Any]:
    """Score one row asking for its top :data:`EXPLANATIONS` SHAP contributions; the answer's ``data[0]``."""
    response = httpx.post(
        f"{url}/predApi/v1.0/deployments/{deployment_id}/predictions",
        params={"maxExplanations": EXPLANATIONS, "passthroughColumns": "customer_id"},
        content=row.drop(columns=[TARGET]).head(1).to_json(orient="records", date_format="iso"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    return dict(response.json()["data"][0])


def _actuals(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"association_id": frame["customer_id"], "actual_value": frame[TARGET]})


def run_story(
    settings: Settings,
    *,
    rows: int = 4000,
    live_rows: int = 2000,
    trials: int = 8,
    report: bool = True,
    log: Any = print,
) -> StoryResult:
    settings.ensure_dirs()
    data_dir = settings.home / "demo-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    train_csv, warehouse_csv = data_dir / "churn_train.csv", data_dir / "churn_warehouse.csv"
    history = make_churn(rows, seed=1, period="reference", start=DAY0, hours=24)
    history.to_csv(train_csv, index=False)
    # The warehouse (the policy's source) learns launch-day customers' outcomes by the day's end.
    launch_day = DAYS[1]
    launch_rows = make_churn(rows, seed=4, period="launch", start=launch_day.start, hours=24)
    pd.concat([history, launch_rows], ignore_index=True).to_csv(warehouse_csv, index=False)
    traffic = {
        day.number: make_churn(
            live_rows,
            seed=10 + day.number,
            period=day.period,
            features=day.features,
            start=day.start,
            hours=24,
        )
        for day in DAYS
    }
    log(f"[1/4] data: {rows} training rows; {len(DAYS)} simulated days of {live_rows} predictions each")

    log("[2/4] mlops_train: ingest → Optuna sweep → register → deploy, with a retraining policy")
    train_run = run_dag(
        "mlops_train",
        {
            "source": str(train_csv),
            "dataset": "churn",
            "target": TARGET,
            "exclude_columns": EXCLUDE,
            "registered_model_name": "churn",
            "label": "Churn (demo)",
            "n_trials": trials,
            "timeout_s": 600,
        },
    )
    sweep = xcom_result(train_run, "sweep")[0]
    deployed = xcom_result(train_run, "deploy")[0]
    deployment_id, first_model = deployed["deployment_id"], deployed["model_id"]
    deployment = Deployment.get(deployment_id, store_url=settings.store_url)
    deployment.update_association_id_settings(column_names=["customer_id"], actor="demo")
    deployment.update_retraining_settings(source=str(warehouse_csv), actor="demo", **POLICY)
    deployment.update_bias_and_fairness_settings(actor="demo", **FAIRNESS)

    days: list[DayResult] = []
    sent = 0
    retrain = {"n_trials": trials, "timeout_s": 600}
    with PredictionServer() as server:
        log(f"[3/4] prediction server on {server.url}; simulating {len(DAYS)} days")
        _info, token = create_token(
            settings.store_url, user="demo", is_admin=True, expires_in=timedelta(days=1)
        )
        served = first_model
        for day in DAYS:
            frame = traffic[day.number]
            scored, served = send_traffic(server.url, deployment_id, frame, token=token)
            sent += scored
            if day.actuals:
                deployment.submit_actuals(_actuals(frame))
            time.sleep(1.5)  # the log writer flushes at least every second
            started = datetime.now(UTC)
            run = run_dag(
                "mlops_monitor", {"window_end": day.end.isoformat(), "window_hours": 24, "report": report}
            )
            summary = next(r for r in xcom_result(run, "monitor") if r["deployment_id"] == deployment_id)
            if day.refresh:
                run_dag(
                    "mlops_refresh",
                    {
                        "interval_start": (day.end - timedelta(hours=1)).isoformat(),
                        "interval_end": day.end.isoformat(),
                    },
                )
            events = [
                e
                for e in asset_events(RETRAIN_REQUESTS.name, since=started)
                if e["deployment_id"] == deployment_id
            ]
            for event in events:
                log(
                    f"      day {day.number}: mlops_retrain for {event['reason']} (request {event['request_id']})"
                )
                retrain_run = run_dag("mlops_retrain", {"request_id": event["request_id"], **retrain})
                replaced = xcom_result(retrain_run, "replace_model")
                if replaced:
                    served = wait_for_model(
                        server.url, deployment_id, frame, replaced[0]["new_model_id"], token=token
                    )
            requests = [
                r
                for r in Deployment.get(deployment_id, store_url=settings.store_url).get_retraining_requests()
                if day.start < datetime.fromisoformat(r["requested_at"]) <= day.end
            ]
            days.append(
                DayResult(
                    day=day.number,
                    name=day.name,
                    date=day.start.date().isoformat(),
                    predictions=scored,
                    actuals=len(frame) if day.actuals else 0,
                    service=summary["service_status"],
                    drift=summary["drift_status"],
                    accuracy=summary["accuracy_status"],
                    drift_message=summary["drift_message"],
                    accuracy_message=summary["accuracy_message"],
                    fairness=summary["fairness_status"],
                    fairness_message=summary["fairness_message"],
                    requests=list(reversed(requests)),
                    served_model=served,
                )
            )
            log(
                f"      day {day.number} ({day.name}): service {summary['service_status']}, drift "
                f"{summary['drift_status']}, accuracy {summary['accuracy_status']}, fairness "
                f"{summary['fairness_status']}; "
                + (", ".join(f"{r['reason']} {r['status']}" for r in requests) or "no retrain")
            )
        explained = explain_one(server.url, deployment_id, traffic[DAYS[-1].number], token=token)

    log("[4/4] summary")
    deployment = Deployment.get(deployment_id, store_url=settings.store_url)
    first_version = first_model.rsplit("/", 1)[1]
    baseline = Baseline.from_dict(deployment.get_baseline(first_version) or {})
    periods = {
        name: drift_scores(settings.store_url, deployment_id, first_version, baseline, d.start, d.end)[0]
        for name, d in (("day 1", DAYS[0]), ("day 2", DAYS[1]))
    }
    from mlflow import MlflowClient

    client = MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
    )
    versions = sorted(int(v.version) for v in client.search_model_versions("name='churn'"))
    return StoryResult(
        deployment_id=deployment_id,
        label=deployment.label,
        leaderboard=sweep["leaderboard"],
        first_model_id=first_model,
        final_model_id=deployment.model["id"],
        predictions_sent=sent,
        days=days,
        requests=list(reversed(deployment.get_retraining_requests())),
        periods=periods,
        history=deployment.get_model_history(),
        registered_versions=[f"churn/{v}" for v in versions],
        explained=explained,
        fairness=deployment.get_fairness(start_time=DAYS[-1].start, end_time=DAYS[-1].end).to_json(),
    )


def _scores(request: dict[str, Any]) -> str:
    scores = request.get("scores") or {}
    if scores.get("champion") is None or scores.get("challenger") is None:
        return ""
    return (
        f"{scores['metric']} champion {request['champion_model_id']} {scores['champion']:.3f}, "
        f"challenger {request['challenger_model_id']} {scores['challenger']:.3f} "
        f"({scores['improvement']:+.3f}, margin {scores['margin']:g})"
    )


def _explained_lines(explained: dict[str, Any]) -> list[str]:
    """The explained prediction: the row's id, its churn probability and the columns that drove it."""
    if not explained:
        return []
    customer = (explained.get("passthroughValues") or {}).get("customer_id", "?")
    churn = next((v["value"] for v in explained["predictionValues"] if str(v["label"]) == "1"), None)
    head = f"  customer {customer}: predicted {explained['prediction']!r}"
    lines = ["", f"One prediction explained (maxExplanations={EXPLANATIONS}: SHAP, summed per input column)"]
    lines.append(head + (f", churn probability {churn:.3f}" if churn is not None else ""))
    for e in explained.get("predictionExplanations") or []:
        lines.append(
            f"    {e['qualitativeStrength']:<4} {e['feature']} = {e['featureValue']!r}  "
            f"(strength {e['strength']:+.3f} towards {e['label']!r})"
        )
    return lines


def _fairness_lines(fairness: dict[str, Any]) -> list[str]:
    """The last day's fairness per protected group, and the fairness health that follows."""
    if not fairness:
        return []
    lines = [
        "",
        f"Fairness on the last day ({fairness['fairnessMetricsSet']}, favourable outcome "
        f"{fairness['favorableTargetOutcome']!r}, threshold {fairness['fairnessThreshold']:g}): "
        f"{fairness['status']}",
    ]
    for feature in fairness["features"]:
        for score in feature["scores"]:
            relative = "-" if score["value"] is None else f"{score['value']:.3f}"
            verdict = {True: "passes", False: "FAILS", None: "not judged"}[score["passed"]]
            lines.append(
                f"  {feature['protectedFeature']}={score['label']:<6} {feature['metricName']} "
                f"{relative} of the most favoured group's, {score['sampleSize']} rows: {verdict}"
            )
    return lines


def format_summary(result: StoryResult) -> str:
    lines = ["", "=" * 78, "airflow-mlops demo summary", "=" * 78, "", "Leaderboard (top 5)"]
    for entry in result.leaderboard[:5]:
        lines.append(f"  #{entry['rank']:<2} {entry['family']:<24} {entry['metric']}={entry['score']:.4f}")
    lines += [
        "",
        f"Deployment {result.label!r} ({result.deployment_id}): first model {result.first_model_id}, "
        f"{result.predictions_sent} predictions logged; now serving {result.final_model_id}",
        "",
        "Timeline (health per day; each retraining request and what came of it)",
    ]
    for day in result.days:
        lines.append(
            f"  day {day.day} {day.date} {day.name:<24} {day.predictions:>5} predictions "
            f"{day.actuals:>5} actuals  service {day.service:<8} drift {day.drift:<8} "
            f"accuracy {day.accuracy:<11} fairness {day.fairness}"
        )
        if day.drift == "failing":
            lines.append(f"      drift: {day.drift_message}")
        if day.accuracy == "failing":
            lines.append(f"      accuracy: {day.accuracy_message}")
        if day.fairness in ("warning", "failing"):
            lines.append(f"      fairness: {day.fairness_message}")
        for request in day.requests:
            lines.append(f"      → {request['reason']} requested by {request['origin']}: {request['status']}")
            scores = _scores(request)
            if scores:
                lines.append(f"        {scores}")
            if request["status"] in ("suppressed", "failed", "not_replaced"):
                lines.append(f"        {request['message']}")
        lines.append(f"      the server answers with {day.served_model}")
    features = sorted({f for scores in result.periods.values() for f in scores})
    lines += [
        "",
        "PSI per feature against the first model's training baseline",
        f"  {'feature':<20}" + "".join(f"{p:>12}" for p in result.periods),
    ]
    for feature in features:
        name = f"{feature} (target)" if feature == TARGET else feature
        lines.append(
            f"  {name:<20}"
            + "".join(f"{scores.get(feature, float('nan')):>12.3f}" for scores in result.periods.values())
        )
    lines += _explained_lines(result.explained) + _fairness_lines(result.fairness)
    lines += ["", "Model history"]
    for entry in result.history:
        judged: dict[str, Any] = (entry.get("details") or {}).get("scores") or {}
        extra = ""
        if judged.get("challenger") is not None:
            extra = f"  {judged['metric']} {judged['champion']:.3f} → {judged['challenger']:.3f}"
        lines.append(
            f"  {entry['timestamp'][:19]}  {entry['old_model_version'] or '-':>3} → "
            f"{entry['new_model_version']:<3} {entry['reason']:<12} by {entry['actor']}{extra}"
        )
    lines += [
        "",
        f"Registered versions: {', '.join(result.registered_versions)} "
        f"(a challenger that lost stays registered, not deployed).",
        "",
    ]
    return "\n".join(lines)


def run_demo(settings: Settings, *, rows: int = 4000, trials: int = 16) -> int:
    started = time.monotonic()
    result = run_story(settings, rows=rows, trials=trials)
    print(format_summary(result))
    print(
        f"Finished in {time.monotonic() - started:.0f} s. MLflow UI: mlflow ui --backend-store-uri "
        f"{settings.mlflow_tracking_uri}"
    )
    print(curl_example(settings, result.deployment_id))
    reasons = [h["reason"] for h in result.history]
    refresh = [r for r in result.requests if r["reason"] == "SCHEDULED_REFRESH"]
    ok = reasons == ["INITIAL", "DATA_DRIFT", "ACCURACY"] and [r["status"] for r in refresh] == [
        "not_replaced"
    ]
    return 0 if ok else 1


def curl_example(settings: Settings, deployment_id: str, *, port: int = 8008) -> str:
    """A ready-to-run prediction request against the demo deployment, with a fresh 1-day token."""
    from datetime import timedelta

    _info, token = create_token(
        settings.store_url, user="demo", is_admin=True, expires_in=timedelta(days=1), description="demo curl"
    )
    row = (
        '[{"customer_id": "C-1", "tenure_months": 3, "monthly_charges": 95.5, "total_charges": 286.5, '
        '"support_calls": 4, "contract": "month-to-month", "payment_method": "electronic check", '
        '"internet_service": "fiber", "senior": 0}]'
    )
    return (
        f"Try it: start the server with `make serve`, then\n"
        f"  curl -s -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n"
        f"       -d '{row}' \\\n"
        f"       'http://127.0.0.1:{port}/predApi/v1.0/deployments/{deployment_id}/predictions"
        f"?passthroughColumns=customer_id'"
    )
