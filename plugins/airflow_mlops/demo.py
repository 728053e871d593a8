"""The demo story: raw data to a model replaced for data drift, headless, on the embedded default.

1. generate a synthetic churn dataset (a training day, then live traffic whose second half shifts);
2. ``mlops_train``: ingest → Optuna sweep (MLflow runs) → register → deploy;
3. start the prediction server on loopback and send both periods' traffic with explicit timestamps;
4. ``mlops_monitor`` twice: the stable half passes, the shifted half fails drift health and emits a
   retrain request;
5. ``mlops_retrain`` on that request: retrain on recent labelled data, ``replace_model(DATA_DRIFT)``;
6. the running server answers with the new model, without a restart; print a summary.

The integration test runs :func:`run_story` with smaller sizes and checks the same facts.
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
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.windows import drift_scores
from airflow_mlops.operators.monitoring import RETRAIN_REQUESTS
from airflow_mlops.security import create_token

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
LIVE_START = DAY0 + timedelta(days=1)
SHIFT_START = LIVE_START + timedelta(hours=12)
LIVE_END = LIVE_START + timedelta(hours=24)
EXCLUDE = ["customer_id", "event_time"]
TARGET = "churned"


@dataclass
class StoryResult:
    deployment_id: str
    label: str
    drift_health: str
    leaderboard: list[dict[str, Any]]
    first_model_id: str
    new_model_id: str
    served_model_after: str
    predictions_sent: int
    monitor_runs: list[dict[str, Any]]
    retrain_request: dict[str, Any]
    periods: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


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


def run_story(
    settings: Settings,
    *,
    rows: int = 4000,
    live_rows: int = 1200,
    trials: int = 8,
    log: Any = print,
) -> StoryResult:
    settings.ensure_dirs()
    data_dir = settings.home / "demo-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    train_csv, recent_csv = data_dir / "churn_train.csv", data_dir / "churn_recent.csv"
    make_churn(rows, seed=1, period="reference", start=DAY0, hours=24).to_csv(train_csv, index=False)
    stable = make_churn(live_rows, seed=2, period="reference", start=LIVE_START, hours=12)
    shifted = make_churn(live_rows, seed=3, period="shifted", start=SHIFT_START, hours=12)
    make_churn(rows, seed=4, period="shifted", start=LIVE_START, hours=24).to_csv(recent_csv, index=False)
    log(f"[1/6] data: {rows} training rows, {2 * live_rows} live rows over 24 simulated hours")

    log("[2/6] mlops_train: ingest → Optuna sweep → register → deploy")
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

    with PredictionServer() as server:
        log(f"[3/6] prediction server on {server.url}: sending the stable and the shifted period")
        _info, token = create_token(
            settings.store_url, user="demo", is_admin=True, expires_in=timedelta(days=1)
        )
        sent_a, _ = send_traffic(server.url, deployment_id, stable, token=token)
        sent_b, _ = send_traffic(server.url, deployment_id, shifted, token=token)
        time.sleep(1.5)  # the log writer flushes at least every second

        log("[4/6] mlops_monitor: fold the log into hourly buckets, drift per feature, health")
        started = datetime.now(UTC)
        monitor_runs: list[dict[str, Any]] = []
        for end in (SHIFT_START, LIVE_END):
            run = run_dag("mlops_monitor", {"window_end": end.isoformat(), "window_hours": 12})
            monitor_runs.extend(r for r in xcom_result(run, "monitor") if r["deployment_id"] == deployment_id)
        requests = [
            e
            for e in asset_events(RETRAIN_REQUESTS.name, since=started)
            if e["deployment_id"] == deployment_id
        ]
        if not requests:
            raise RuntimeError(f"drift health never failed: {[r['drift_status'] for r in monitor_runs]}")
        request = requests[-1]

        log(f"[5/6] mlops_retrain for {request['reason']}: retrain on recent data, replace the model")
        retrain_run = run_dag(
            "mlops_retrain",
            {
                "deployment_id": request["deployment_id"],
                "reason": request["reason"],
                "evidence": request["evidence"],
                "source": str(recent_csv),
                "exclude_columns": EXCLUDE,
                "n_trials": trials,
                "timeout_s": 600,
            },
        )
        replaced = xcom_result(retrain_run, "replace_model")[0]
        log("[6/6] the running server switches to the new model without a restart")
        served = wait_for_model(server.url, deployment_id, shifted, replaced["new_model_id"], token=token)

    deployment = Deployment.get(deployment_id, store_url=settings.store_url)
    first_version = first_model.rsplit("/", 1)[1]
    baseline = Baseline.from_dict(deployment.get_baseline(first_version) or {})
    periods = {
        name: drift_scores(settings.store_url, deployment_id, first_version, baseline, start, end)[0]
        for name, start, end in (("stable", LIVE_START, SHIFT_START), ("shifted", SHIFT_START, LIVE_END))
    }
    return StoryResult(
        deployment_id=deployment_id,
        label=deployment.label,
        drift_health=deployment.model_health["status"],
        leaderboard=sweep["leaderboard"],
        first_model_id=first_model,
        new_model_id=replaced["new_model_id"],
        served_model_after=served,
        predictions_sent=sent_a + sent_b,
        monitor_runs=monitor_runs,
        retrain_request=request,
        periods=periods,
        history=deployment.get_model_history(),
    )


def format_summary(result: StoryResult) -> str:
    lines = ["", "=" * 78, "airflow-mlops demo summary", "=" * 78, "", "Leaderboard (top 5)"]
    for entry in result.leaderboard[:5]:
        lines.append(f"  #{entry['rank']:<2} {entry['family']:<24} {entry['metric']}={entry['score']:.4f}")
    lines += [
        "",
        f"Deployment {result.label!r} ({result.deployment_id}): first model {result.first_model_id}, "
        f"{result.predictions_sent} predictions logged; drift health now {result.drift_health}",
        "",
    ]
    lines.append("Monitoring runs (12-hour windows)")
    for run in result.monitor_runs:
        total = sum(run["predictions_per_hour"].values())
        lines.append(
            f"  {run['window_start'][:16]} → {run['window_end'][:16]}  {total:>5} predictions  "
            f"drift health {run['drift_status']}"
        )
        per_hour = " ".join(str(n) for n in run["predictions_per_hour"].values())
        lines.append(f"      predictions per hour: {per_hour}")
        lines.append(f"      {run['drift_message']}")
    features = sorted({f for scores in result.periods.values() for f in scores})
    lines += [
        "",
        "PSI per feature per period (against the training baseline)",
        f"  {'feature':<20}" + "".join(f"{p:>12}" for p in result.periods),
    ]
    for feature in features:
        name = f"{feature} (target)" if feature == TARGET else feature
        lines.append(
            f"  {name:<20}"
            + "".join(f"{scores.get(feature, float('nan')):>12.3f}" for scores in result.periods.values())
        )
    lines += ["", "Model history"]
    for entry in result.history:
        lines.append(
            f"  {entry['timestamp'][:19]}  {entry['old_model_version'] or '-':>3} → "
            f"{entry['new_model_version']:<3} {entry['reason']:<12} by {entry['actor']}"
        )
    lines += [
        "",
        f"The running server now answers with {result.served_model_after} "
        f"(replacement: {result.new_model_id}).",
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
    ok = result.history[-1]["reason"] == "DATA_DRIFT" and result.served_model_after == result.new_model_id
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
