"""Real-time serving against `mlflow models serve`: the same registered model, the same workers.

Registers one churn pipeline (our AutoML's linear family) in an MLflow registry on
SQLite under a temporary directory, deploys it, then for 1 and 2 workers starts

* **ours**: ``airflow-mlops serve --workers N`` with the shipped defaults (token auth,
  signature checks, association ids, every prediction written to the prediction log;
  no environment variable set);
* **mlflow**: ``mlflow models serve -m models:/churn/1 --env-manager local --workers N``;

and drives each with 1-, 100- and 1,000-row requests over 8 and then 16 keep-alive
connections from a separate load process, `wrk <https://github.com/wg/wrk>`_ (one thread,
closed loop, loopback; ``apt-get install wrk``), for a fixed time after a warm-up. A C
load generator, because a Python one spends a core of its own at these rates and the
machine has two: both servers get the same one. Writes, per case, requests/s, rows/s and
the p50/p90/p99/p99.9 latencies of both to ``bench/results/serving_vs_mlflow.json``
(format: ``bench/README.md``), and checks that the prediction log holds every row ours
answered.

    .venv/bin/python bench/serving_vs_mlflow.py                  # 3 runs of 10 s per case: median
    .venv/bin/python bench/serving_vs_mlflow.py --seconds 3 --repeats 1 --out /tmp/s.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from contextlib import AbstractContextManager
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# The live-server helper the tests use (start, wait until ready, stop), one copy for both: it imports
# nothing else from tests/, and a benchmark runs from a checkout, where tests/ is.
sys.path.insert(0, str(REPO / "tests"))
from helpers.live_server import free_port, serve_process  # noqa: E402

# ---- the load process ---------------------------------------------------------------------------

#: wrk's script: POSTs the body from $BODY with the headers given, and prints a JSON summary.
WRK_SCRIPT = r"""
wrk.method = "POST"
local f = io.open(os.getenv("BODY"), "rb"); wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def run_wrk(
    url: str, body_file: Path, auth: str, connections: int, seconds: float, script: Path
) -> dict[str, Any]:
    """One closed-loop run of wrk; its summary with answered (non-error) requests counted."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
         "-s", str(script), url],
        env={**os.environ, "BODY": str(body_file), "AUTH": auth},
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    summary["answered"] = summary["requests"] - summary["status_errors"]
    return summary


# ---- setup ----------------------------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MLOPS_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "MLFLOW_REGISTRY_URI": f"sqlite:///{home / 'mlflow.db'}",
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # mlflow starts uvicorn from PATH
        }
    )
    # The shipped defaults: no MLOPS_* setting of the caller's may leak into the servers.
    for var in [v for v in env if v.startswith("MLOPS_") and v != "MLOPS_HOME"]:
        env.pop(var)
    return env


SETUP = r"""
import json, sys, warnings
from airflow_mlops.automl import fit_pipeline, get_family
from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.registry import register_model
from airflow_mlops.security import create_token
from airflow_mlops.store import migrate
s = get_settings(); s.ensure_dirs(); migrate(s.store_url)
df = make_churn(5000, seed=1).drop(columns=["customer_id", "event_time"])
params = get_family("linear").default_params("binary")
pipe = fit_pipeline(df, "churned", "linear", params, "binary", seed=0)
warnings.simplefilter("ignore")
v = register_model(pipe, name="churn", train_df=df, target="churned", tracking_uri=s.mlflow_tracking_uri,
                   registry_uri=s.mlflow_registry_uri, experiment_name="bench", tags={"family": "linear"})
d = Deployment.create_from_registered_model_version(f"{v.name}/{v.version}", "bench")
_i, token = create_token(s.store_url, user="bench", is_admin=True)
rows = make_churn(1000, seed=2).drop(columns=["customer_id", "event_time", "churned"])
print(json.dumps({"deployment_id": d.id, "token": token, "model": f"models:/{v.name}/{v.version}",
                  "records": json.loads(rows.to_json(orient="records"))}))
"""


def _serving(
    system: str, workers: int, port: int, env: dict[str, str], model: str
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """The system's server on ``port``, ready (ours answers 503 while it loads the deployments' models)."""
    if system == "ours":
        cmd = [str(BIN / "airflow-mlops"), "serve", "--port", str(port), "--workers", str(workers)]
        health = f"http://127.0.0.1:{port}/health"
    else:
        cmd = [str(BIN / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port), "--workers", str(workers)]  # fmt: skip
        health = f"http://127.0.0.1:{port}/ping"
    return serve_process(cmd, ready_url=health, env=env, timeout=300, interval=0.3)


ROW_COUNTS = (1, 100, 1000)
CONNECTIONS = (8, 16)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serving_vs_mlflow.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(
            "wrk is not installed: apt-get install wrk (the load generator both servers are driven with)"
        )

    home = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    env = _env(home)
    setup = json.loads(
        subprocess.run(
            [sys.executable, "-c", SETUP], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    script = home / "post.lua"
    script.write_text(WRK_SCRIPT)
    bodies: dict[tuple[str, int], Path] = {}
    for n_rows in ROW_COUNTS:
        records = setup["records"][:n_rows]
        for system, body in (("ours", records), ("mlflow", {"dataframe_records": records})):
            bodies[system, n_rows] = home / f"body-{system}-{n_rows}.json"
            bodies[system, n_rows].write_text(json.dumps(body))
    cases: list[dict[str, Any]] = []
    answered_rows = 0  # rows ours answered with 200 as wrk counted them: the log must hold all of these
    uncounted_rows_max = 0  # ... and at most this many more
    for workers in (1, 2):
        for system in ("mlflow", "ours"):
            port = free_port()
            if system == "ours":
                url = f"http://127.0.0.1:{port}/predApi/v1.0/deployments/{setup['deployment_id']}/predictions"
                auth = f"Bearer {setup['token']}"
            else:
                url, auth = f"http://127.0.0.1:{port}/invocations", ""
            with _serving(system, workers, port, env, setup["model"]):
                for n_rows in ROW_COUNTS:
                    body = bodies[system, n_rows]
                    for connections in CONNECTIONS:
                        # Every worker loads its model on its first request: the warm-up reaches them all.
                        warm = run_wrk(url, body, auth, connections, args.warmup, script)
                        runs = [
                            run_wrk(url, body, auth, connections, args.seconds, script)
                            for _ in range(args.repeats)
                        ]
                        if system == "ours":
                            answered_rows += sum(r["answered"] for r in [warm, *runs]) * n_rows
                            # wrk stops counting at its deadline: requests then in flight (at most
                            # one per connection) are answered and logged but not counted.
                            uncounted_rows_max += (1 + len(runs)) * connections * n_rows
                        rates = [r["answered"] / (r["duration_us"] / 1e6) for r in runs]
                        # The median run by throughput, with its own latencies (noisy 2-CPU machines).
                        result = runs[sorted(range(len(runs)), key=rates.__getitem__)[len(runs) // 2]]
                        seconds = result["duration_us"] / 1e6
                        case = {
                            "system": system, "workers": workers, "rows_per_request": n_rows,
                            "connections": connections,
                            "throughput_rps": result["answered"] / seconds,
                            "throughput_rps_runs": [round(r, 1) for r in rates],
                            "rows_per_s": result["answered"] * n_rows / seconds,
                            "errors": sum(r["status_errors"] + r["socket_errors"] for r in runs),
                            **{k: result[f"{k[:-3]}_us"] / 1000 for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms")},
                        }  # fmt: skip
                        cases.append(case)
                        print(json.dumps(case), file=sys.stderr)

    # The servers were stopped with SIGTERM, which flushes the log: every answered row is there.
    log_files = (
        list((home / "predictions").rglob("part-*.parquet")) if (home / "predictions").exists() else []
    )
    logged = len(log_files)
    logged_rows = sum(pq.ParquetFile(path).metadata.num_rows for path in log_files)
    paired = []
    for workers in (1, 2):
        for n_rows in ROW_COUNTS:
            for connections in CONNECTIONS:
                key = (workers, n_rows, connections)
                ours, theirs = (
                    next(c for c in cases if (c["system"], c["workers"], c["rows_per_request"], c["connections"]) == (system, *key))
                    for system in ("ours", "mlflow")
                )  # fmt: skip
                entry: dict[str, Any] = {
                    "workers": workers,
                    "rows_per_request": n_rows,
                    "connections": connections,
                }
                for name in (
                    "throughput_rps",
                    "rows_per_s",
                    "p50_ms",
                    "p90_ms",
                    "p99_ms",
                    "p999_ms",
                    "errors",
                ):
                    entry[f"{name}_ours"] = round(ours[name], 2)
                    entry[f"{name}_mlflow"] = round(theirs[name], 2)
                entry["throughput_rps_runs_ours"] = ours["throughput_rps_runs"]
                entry["throughput_rps_runs_mlflow"] = theirs["throughput_rps_runs"]
                entry["throughput_ratio"] = _ratio(ours["throughput_rps"], theirs["throughput_rps"])
                entry["p99_ratio"] = _ratio(ours["p99_ms"], theirs["p99_ms"])
                entry["settings"] = "defaults"
                paired.append(entry)
    targeted = [p for p in paired if p["rows_per_request"] in (1, 100)]  # the target cases
    result = {
        "benchmark": "serving_vs_mlflow",
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "versions": {
            "airflow-mlops": metadata.version("airflow-mlops"),
            "mlflow": metadata.version("mlflow"),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip(),
        },
        "settings": {
            "seconds_per_run": args.seconds,
            "runs_per_case": args.repeats,
            "figures": "the median run of each case by throughput, with that run's latencies",
            "warmup_s": args.warmup,
            "connections": list(CONNECTIONS),
            "rows_per_request": list(ROW_COUNTS),
            "load": "separate process: wrk, 1 thread, keep-alive connections, closed loop, loopback",
            "model": "churn linear pipeline (scikit-learn), registered once, served by both",
            "ours": "airflow-mlops serve with the shipped defaults (no MLOPS_* variable set): token auth, "
            "per-worker token/role cache (revocations in force within 1 s), every prediction logged",
            "mlflow": "mlflow models serve --env-manager local, its defaults",
            "prediction_log_files_written": logged,
            "prediction_log_rows": logged_rows,
            "rows_answered_by_ours": answered_rows,
            "rows_in_flight_at_wrk_deadlines_max": uncounted_rows_max,
        },
        "cases": paired,
        "summary": {
            "throughput_ratio_min": min(p["throughput_ratio"] for p in targeted),
            "p99_ratio_max": max(p["p99_ratio"] for p in targeted),
            "throughput_ratio_min_1000_rows": min(
                p["throughput_ratio"] for p in paired if p["rows_per_request"] == 1000
            ),
            "settings": "defaults",
            "logging_enabled": logged > 0,
            "every_answered_row_logged": answered_rows <= logged_rows <= answered_rows + uncounted_rows_max,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"]))


if __name__ == "__main__":
    main()
