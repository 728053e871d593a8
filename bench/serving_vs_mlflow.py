"""Real-time serving against `mlflow models serve`: the same registered model, the same workers.

Registers one churn pipeline (our AutoML's linear family) in an MLflow registry on
SQLite under a temporary directory, deploys it, then for 1 and 2 workers starts

* **ours**: ``airflow-mlops serve --workers N`` (token auth, signature checks,
  association ids, every prediction written to the prediction log);
* **mlflow**: ``mlflow models serve -m models:/churn/1 --env-manager local --workers N``;

and drives each with single-row and 100-row requests from a separate load
process (``--load``: keep-alive ``http.client`` connections in threads) on
loopback for a fixed time after a warm-up. Writes throughput and p50/p99 latency
for both to ``bench/results/serving_vs_mlflow.json`` (format: ``bench/README.md``).

    .venv/bin/python bench/serving_vs_mlflow.py                  # 10 s per case
    .venv/bin/python bench/serving_vs_mlflow.py --seconds 3 --out /tmp/s.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# The live-server helper the tests use (start, wait until ready, stop), one copy for both: it imports
# nothing else from tests/, and a benchmark runs from a checkout, where tests/ is.
sys.path.insert(0, str(REPO / "tests"))
from helpers.live_server import free_port, serve_process  # noqa: E402

# ---- the load process ---------------------------------------------------------------------------


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed-loop load: ``connections`` threads, each with one keep-alive connection."""
    body = spec["body"].encode()
    headers = {"Content-Type": "application/json", **spec["headers"]}
    latencies: list[list[float]] = [[] for _ in range(spec["connections"])]
    errors = [0] * spec["connections"]
    answered = [0] * spec["connections"]  # every 200, warm-up included: each must be in the log
    start_at = time.monotonic() + spec["warmup"]
    end_at = start_at + spec["seconds"]

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=30)
        while True:
            t0 = time.monotonic()
            if t0 >= end_at:
                break
            try:
                conn.request("POST", spec["path"], body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=30)
            t1 = time.monotonic()
            answered[i] += ok
            if t0 >= start_at:
                if ok:
                    latencies[i].append(t1 - t0)
                else:
                    errors[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(spec["connections"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = sorted(x for per in latencies for x in per)
    n = len(flat)
    return {
        "requests": n,
        "answered_total": sum(answered),
        "errors": sum(errors),
        "throughput_rps": n / spec["seconds"],
        "p50_ms": 1000 * flat[n // 2] if n else None,
        "p99_ms": 1000 * flat[min(n - 1, int(n * 0.99))] if n else None,
    }


# ---- setup ----------------------------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MLOPS_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "MLFLOW_REGISTRY_URI": f"sqlite:///{home / 'mlflow.db'}",
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # mlflow starts uvicorn from PATH
            # Trust a verified token and role for 2 s (documented; revocation acts within 2 s).
            "MLOPS_AUTH_CACHE_TTL_S": os.environ.get("MLOPS_AUTH_CACHE_TTL_S", "2"),
        }
    )
    for var in ("MLOPS_STORE_URL", "MLOPS_PREDICTION_LOG_DIR"):
        env.pop(var, None)
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
rows = make_churn(100, seed=2).drop(columns=["customer_id", "event_time", "churned"])
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
    return serve_process(cmd, ready_url=health, env=env, timeout=120, interval=0.3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serving_vs_mlflow.json")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run as the load process
    args = parser.parse_args()
    if args.load:
        print(json.dumps(run_load(json.loads(Path(args.load).read_text()))))
        return

    home = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    env = _env(home)
    setup = json.loads(
        subprocess.run(
            [sys.executable, "-c", SETUP], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    cases: list[dict[str, Any]] = []
    answered_rows = 0  # rows ours answered with 200: the prediction log must hold exactly these
    for workers in (1, 2):
        for system in ("mlflow", "ours"):
            port = free_port()
            with _serving(system, workers, port, env, setup["model"]):
                for n_rows in (1, 100):
                    records = setup["records"][:n_rows]
                    if system == "ours":
                        path = f"/predApi/v1.0/deployments/{setup['deployment_id']}/predictions"
                        body = json.dumps(records)
                        headers = {"Authorization": f"Bearer {setup['token']}"}
                    else:
                        path, body, headers = "/invocations", json.dumps({"dataframe_records": records}), {}
                    spec = {
                        "port": port, "path": path, "body": body, "headers": headers,
                        "connections": args.connections, "seconds": args.seconds, "warmup": args.warmup,
                    }  # fmt: skip
                    # Every worker loads its model on its first request: warm them all first.
                    for _ in range(10 * workers):
                        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as fresh:
                            warm = fresh.post(
                                path, content=body, headers={"Content-Type": "application/json", **headers}
                            )
                        if system == "ours" and warm.status_code == 200:
                            answered_rows += n_rows
                    spec_file = home / "load.json"
                    spec_file.write_text(json.dumps(spec))
                    out = subprocess.run(
                        [sys.executable, __file__, "--load", str(spec_file)],
                        env=env, check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    result = json.loads(out.stdout)
                    if system == "ours":
                        answered_rows += result["answered_total"] * n_rows
                    cases.append({"system": system, "workers": workers, "rows_per_request": n_rows, **result})
                    print(json.dumps(cases[-1]), file=sys.stderr)

    # The servers were stopped with SIGTERM, which flushes the log: every answered row is there.
    log_files = (
        list((home / "predictions").rglob("part-*.parquet")) if (home / "predictions").exists() else []
    )
    logged = len(log_files)
    logged_rows = sum(pq.ParquetFile(path).metadata.num_rows for path in log_files)
    paired = []
    for workers in (1, 2):
        for n_rows in (1, 100):
            ours = next(
                c
                for c in cases
                if (c["system"], c["workers"], c["rows_per_request"]) == ("ours", workers, n_rows)
            )
            theirs = next(c for c in cases if (c["system"], c["workers"], c["rows_per_request"]) == ("mlflow", workers, n_rows))  # fmt: skip
            paired.append(
                {
                    "workers": workers,
                    "rows_per_request": n_rows,
                    "throughput_rps_ours": round(ours["throughput_rps"], 1),
                    "throughput_rps_mlflow": round(theirs["throughput_rps"], 1),
                    "p50_ms_ours": round(ours["p50_ms"], 2),
                    "p50_ms_mlflow": round(theirs["p50_ms"], 2),
                    "p99_ms_ours": round(ours["p99_ms"], 2),
                    "p99_ms_mlflow": round(theirs["p99_ms"], 2),
                    "errors_ours": ours["errors"],
                    "errors_mlflow": theirs["errors"],
                    "throughput_ratio": round(ours["throughput_rps"] / theirs["throughput_rps"], 3),
                    "p99_ratio": round(ours["p99_ms"] / theirs["p99_ms"], 3),
                }
            )
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
        },
        "settings": {
            "seconds_per_case": args.seconds,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "load": "separate process, keep-alive http.client connections in threads, closed loop, loopback",
            "model": "churn linear pipeline (scikit-learn), registered once, served by both",
            "auth_cache_ttl_s": env["MLOPS_AUTH_CACHE_TTL_S"],
            "prediction_log_files_written": logged,
            "prediction_log_rows": logged_rows,
            "rows_answered_by_ours": answered_rows,
        },
        "cases": paired,
        "summary": {
            "throughput_ratio_min": min(p["throughput_ratio"] for p in paired),
            "p99_ratio_max": max(p["p99_ratio"] for p in paired),
            "logging_enabled": logged > 0,
            "every_answered_row_logged": logged_rows == answered_rows,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"]))


if __name__ == "__main__":
    main()
