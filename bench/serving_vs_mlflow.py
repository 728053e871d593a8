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

The explanation cases (issue 20) measure what ``?maxExplanations=5`` costs: ours on 1- and
100-row requests over 8 connections, each right after the same requests without it in the
same server, with the throughput lost and the latency added (``explanation_cases``).
MLflow has no counterpart. ``--cases explanations`` runs only those (and their plain
twins) and merges them into ``--out``, keeping the comparison with MLflow already there;
``--cases comparison`` does the reverse.

    .venv/bin/python bench/serving_vs_mlflow.py                  # 3 runs of 10 s per case: median
    .venv/bin/python bench/serving_vs_mlflow.py --cases explanations   # about 5 minutes, merged
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
from airflow_mlops.monitoring.model_baseline import build_model_baseline
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
# The baseline a trained model is deployed with: its training sample is the explainers' background.
baseline = build_model_baseline(f"{v.name}/{v.version}", df).to_dict()
d = Deployment.create_from_registered_model_version(f"{v.name}/{v.version}", "bench", baseline=baseline)
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
#: The explanation cases: ours asked for this many SHAP explanations per row (``?maxExplanations=5``) ...
MAX_EXPLANATIONS = 5
#: ... on these requests, each right after the same requests without explanations, in the same server.
EXPLAIN_ROW_COUNTS = (1, 100)
EXPLAIN_CONNECTIONS = (8,)
#: ``--cases``: everything; only the comparison with MLflow; only ours with and without explanations.
CASE_SETS = ("all", "comparison", "explanations")
#: The figures each paired entry holds for both of its sides.
FIGURES = ("throughput_rps", "rows_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "errors")
#: The summary keys an explanations run writes (and a comparison-only run keeps from the file).
EXPLANATION_SUMMARY_KEYS = (
    "max_explanations",
    "explained_throughput_ratio_min",
    "explained_throughput_lost_pct_max",
    "explained_p99_added_ms_max",
)
#: The first explained warm-up lasts this much longer: each worker imports shap (about 7 s on a cold
#: 2-CPU machine) and builds its explainer on its first explained request, while that request waits.
EXPLAIN_FIRST_WARMUP_S = 15.0
#: An explained warm-up with a request slower than this reached a worker still building its explainer.
WARM_MAX_US = 1_000_000


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("inf")


Step = tuple[int, int, bool]  # rows per request, connections, explained


def plan(case_set: str) -> list[tuple[int, str, list[Step]]]:
    """The servers to start, in order, as (workers, system, the steps run against that server).

    An explained step follows the plain step on the same rows and connections in the same
    server, so its overhead is measured side by side; ``explanations`` runs only those pairs.
    """
    servers: list[tuple[int, str, list[Step]]] = []
    for workers in (1, 2):
        for system in ("mlflow", "ours") if case_set != "explanations" else ("ours",):
            steps: list[Step] = []
            for n_rows in ROW_COUNTS:
                for connections in CONNECTIONS:
                    explained = (
                        system == "ours"
                        and case_set != "comparison"
                        and n_rows in EXPLAIN_ROW_COUNTS
                        and connections in EXPLAIN_CONNECTIONS
                    )
                    if case_set != "explanations" or explained:
                        steps.append((n_rows, connections, False))
                    if explained:
                        steps.append((n_rows, connections, True))
            servers.append((workers, system, steps))
    return servers


def _find(
    raw: list[dict[str, Any]], system: str, key: tuple[int, int, int], explanations: int
) -> dict[str, Any]:
    return next(
        c
        for c in raw
        if (c["system"], c["workers"], c["rows_per_request"], c["connections"], c["explanations"])
        == (system, *key, explanations)
    )


def _pair(first: dict[str, Any], second: dict[str, Any], names: tuple[str, str]) -> dict[str, Any]:
    """Both sides' figures in one entry, suffixed with the sides' ``names``."""
    entry: dict[str, Any] = {
        "workers": first["workers"],
        "rows_per_request": first["rows_per_request"],
        "connections": first["connections"],
    }
    for name in FIGURES:
        for side, case in zip(names, (first, second), strict=True):
            entry[f"{name}_{side}"] = round(case[name], 2)
    for side, case in zip(names, (first, second), strict=True):
        entry[f"throughput_rps_runs_{side}"] = case["throughput_rps_runs"]
    return entry


def compare_with_mlflow(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (workers, rows, connections): ours and MLflow without explanations, and their ratios."""
    paired = []
    for workers in (1, 2):
        for n_rows in ROW_COUNTS:
            for connections in CONNECTIONS:
                key = (workers, n_rows, connections)
                ours, theirs = _find(raw, "ours", key, 0), _find(raw, "mlflow", key, 0)
                entry = _pair(ours, theirs, ("ours", "mlflow"))
                entry["throughput_ratio"] = _ratio(ours["throughput_rps"], theirs["throughput_rps"])
                entry["p99_ratio"] = _ratio(ours["p99_ms"], theirs["p99_ms"])
                entry["settings"] = "defaults"
                paired.append(entry)
    return paired


def explanation_overheads(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per explained case: ours with and without explanations, and what explaining cost."""
    entries = []
    for case in raw:
        if case["explanations"] == 0:
            continue
        key = (case["workers"], case["rows_per_request"], case["connections"])
        plain = _find(raw, "ours", key, 0)
        entry = _pair(case, plain, ("explained", "plain"))
        entry["max_explanations"] = case["explanations"]
        ratio = _ratio(case["throughput_rps"], plain["throughput_rps"])
        entry["throughput_ratio"] = ratio  # explained / plain requests per second
        entry["throughput_lost_pct"] = round(100 * (1 - ratio), 1)
        for name in ("p50_ms", "p90_ms", "p99_ms"):
            entry[f"{name[:-3]}_added_ms"] = round(case[name] - plain[name], 2)
        entry["p99_ratio"] = _ratio(case["p99_ms"], plain["p99_ms"])
        entry["settings"] = "defaults"
        entries.append(entry)
    return entries


def explanation_summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary keys of the explanation cases (the worst over them)."""
    return {
        "max_explanations": MAX_EXPLANATIONS,
        "explained_throughput_ratio_min": min(e["throughput_ratio"] for e in entries),
        "explained_throughput_lost_pct_max": max(e["throughput_lost_pct"] for e in entries),
        "explained_p99_added_ms_max": max(e["p99_added_ms"] for e in entries),
    }


def merge_results(previous: dict[str, Any] | None, fresh: dict[str, Any], case_set: str) -> dict[str, Any]:
    """``fresh`` with what it did not measure kept from ``previous`` (the file as it was).

    ``explanations`` replaces the explanation cases, their settings and summary keys, and
    keeps the comparison with MLflow (its cases, date and versions); ``comparison`` keeps
    the previous explanation cases; ``all`` replaces everything.
    """
    if case_set == "all" or not previous or previous.get("benchmark") != fresh["benchmark"]:
        return fresh
    if case_set == "explanations":
        merged = json.loads(json.dumps(previous))
        merged["settings"]["explanations"] = fresh["settings"]["explanations"]
        merged["explanation_cases"] = fresh["explanation_cases"]
        merged["summary"].update({k: fresh["summary"][k] for k in EXPLANATION_SUMMARY_KEYS})
        return merged
    merged = json.loads(json.dumps(fresh))
    if "explanations" in previous.get("settings", {}):
        merged["settings"]["explanations"] = previous["settings"]["explanations"]
        merged["explanation_cases"] = previous.get("explanation_cases", [])
        merged["summary"].update(
            {k: previous["summary"][k] for k in EXPLANATION_SUMMARY_KEYS if k in previous.get("summary", {})}
        )
    return merged


def _commit() -> str:
    """The checkout's short commit, ``+changes`` when plugins/ or bench/ differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--", "plugins", "bench") else "")


def _measure(
    url: str, body: Path, auth: str, connections: int, args: argparse.Namespace, script: Path, explained: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Warm-up(s), then ``--repeats`` timed runs: (the median run, the runs, the warm-ups)."""
    # Every worker loads its model on its first request: the warm-up reaches them all. An explained
    # case's first warm-up is longer (each worker imports shap on its first explained request), and
    # more follow until one answers with no request that waited for an explainer being built.
    first = args.warmup + (EXPLAIN_FIRST_WARMUP_S if explained else 0.0)
    warm = [run_wrk(url, body, auth, connections, first, script)]
    if explained:
        while len(warm) < 6 and (
            len(warm) == 1 or warm[-1]["answered"] == 0 or warm[-1]["max_us"] > WARM_MAX_US
        ):
            warm.append(run_wrk(url, body, auth, connections, args.warmup, script))
    runs = [run_wrk(url, body, auth, connections, args.seconds, script) for _ in range(args.repeats)]
    rates = [r["answered"] / (r["duration_us"] / 1e6) for r in runs]
    # The median run by throughput, with its own latencies (noisy 2-CPU machines).
    return runs[sorted(range(len(runs)), key=rates.__getitem__)[len(runs) // 2]], runs, warm


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument(
        "--cases",
        choices=CASE_SETS,
        default="all",
        help="all (default); comparison: ours vs MLflow only; explanations: only ours with and without "
        f"maxExplanations={MAX_EXPLANATIONS}. A partial run keeps the other part of --out",
    )
    parser.add_argument("--note", default=None, help="a note stored with the run's settings")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serving_vs_mlflow.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(
            "wrk is not installed: apt-get install wrk (the load generator both servers are driven with)"
        )
    load_before = os.getloadavg()

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
    raw: list[dict[str, Any]] = []
    answered_rows = 0  # rows ours answered with 200 as wrk counted them: the log must hold all of these
    uncounted_rows_max = 0  # ... and at most this many more
    for workers, system, steps in plan(args.cases):
        port = free_port()
        if system == "ours":
            url = f"http://127.0.0.1:{port}/predApi/v1.0/deployments/{setup['deployment_id']}/predictions"
            auth = f"Bearer {setup['token']}"
        else:
            url, auth = f"http://127.0.0.1:{port}/invocations", ""
        with _serving(system, workers, port, env, setup["model"]):
            for n_rows, connections, explained in steps:
                target = f"{url}?maxExplanations={MAX_EXPLANATIONS}" if explained else url
                result, runs, warm = _measure(
                    target, bodies[system, n_rows], auth, connections, args, script, explained
                )
                if system == "ours":
                    answered_rows += sum(r["answered"] for r in [*warm, *runs]) * n_rows
                    # wrk stops counting at its deadline: requests then in flight (at most
                    # one per connection) are answered and logged but not counted.
                    uncounted_rows_max += (len(warm) + len(runs)) * connections * n_rows
                seconds = result["duration_us"] / 1e6
                case = {
                    "system": system, "workers": workers, "rows_per_request": n_rows,
                    "connections": connections, "explanations": MAX_EXPLANATIONS if explained else 0,
                    "throughput_rps": result["answered"] / seconds,
                    "throughput_rps_runs": [round(r["answered"] / (r["duration_us"] / 1e6), 1) for r in runs],
                    "rows_per_s": result["answered"] * n_rows / seconds,
                    "errors": sum(r["status_errors"] + r["socket_errors"] for r in runs),
                    "warmups": len(warm),
                    **{k: result[f"{k[:-3]}_us"] / 1000 for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms")},
                }  # fmt: skip
                raw.append(case)
                print(json.dumps(case), file=sys.stderr)
    load_after = os.getloadavg()

    # The servers were stopped with SIGTERM, which flushes the log: every answered row is there.
    log_files = (
        list((home / "predictions").rglob("part-*.parquet")) if (home / "predictions").exists() else []
    )
    logged = len(log_files)
    logged_rows = sum(pq.ParquetFile(path).metadata.num_rows for path in log_files)
    log_check = {
        "prediction_log_files_written": logged,
        "prediction_log_rows": logged_rows,
        "rows_answered_by_ours": answered_rows,
        "rows_in_flight_at_wrk_deadlines_max": uncounted_rows_max,
    }
    every_row_logged = answered_rows <= logged_rows <= answered_rows + uncounted_rows_max
    versions = {
        "airflow-mlops": metadata.version("airflow-mlops"),
        "mlflow": metadata.version("mlflow"),
        "shap": metadata.version("shap"),
        "scikit-learn": metadata.version("scikit-learn"),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip(),
    }
    result: dict[str, Any] = {
        "benchmark": "serving_vs_mlflow",
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "versions": versions,
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
            **log_check,
            "measured_at_commit": _commit(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "cases": [],
        "summary": {},
    }
    if args.cases != "explanations":
        paired = compare_with_mlflow(raw)
        targeted = [p for p in paired if p["rows_per_request"] in (1, 100)]  # the target cases
        result["cases"] = paired
        result["summary"] = {
            "throughput_ratio_min": min(p["throughput_ratio"] for p in targeted),
            "p99_ratio_max": max(p["p99_ratio"] for p in targeted),
            "throughput_ratio_min_1000_rows": min(
                p["throughput_ratio"] for p in paired if p["rows_per_request"] == 1000
            ),
            "settings": "defaults",
            "logging_enabled": logged > 0,
            "every_answered_row_logged": every_row_logged,
        }
    if args.cases != "comparison":
        entries = explanation_overheads(raw)
        result["explanation_cases"] = entries
        result["summary"].update(explanation_summary(entries))
        result["settings"]["explanations"] = {
            "date": result["date"],
            "measured_at_commit": result["settings"]["measured_at_commit"],
            "versions": {k: versions[k] for k in ("airflow-mlops", "shap", "scikit-learn", "wrk")},
            "cases_run": args.cases,
            "seconds_per_run": args.seconds,
            "runs_per_case": args.repeats,
            "warmup_s": args.warmup,
            "max_explanations": MAX_EXPLANATIONS,
            "rows_per_request": list(EXPLAIN_ROW_COUNTS),
            "connections": list(EXPLAIN_CONNECTIONS),
            "compared_with": "ours without maxExplanations on the same rows, the same server, measured "
            "just before; MLflow has no counterpart (mlflow models serve computes no explanations)",
            "deployment": "the same deployment for both, with the baseline a trained model gets "
            "(build_model_baseline on the training rows): its sample is the explainer's background",
            "explainer": "linear model: shap.LinearExplainer on the transformed features, summed back per column",
            "load_average_before": result["settings"]["load_average_before"],
            "load_average_after": result["settings"]["load_average_after"],
            **({"note": args.note} if args.note else {}),
            **(
                {**log_check, "every_answered_row_logged": every_row_logged}
                if args.cases == "explanations"
                else {}
            ),
        }
    previous = json.loads(args.out.read_text()) if args.out.exists() else None
    merged = merge_results(previous, result, args.cases)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(merged["summary"]))


if __name__ == "__main__":
    main()
