"""Drift: our fold + bucket query vs Evidently's data-drift report, same data, same run.

Data: a 100 000-row baseline and a 1 000 000-row current window with 50 features
(40 numeric, 10 categorical); 8 numeric and 2 categorical features shift. The
current rows are written once, untimed, as prediction-log Parquet files spread
over 168 hours (what the serving layer would have written), in the log's layout
and columns.

Each measured side runs in its own child process (peak RSS from ``ru_maxrss``):

* ours, end to end (peak RSS is VmHWM of each child): fix the baseline from the 100 000 rows, fold the 1 000 000
  logged rows into hourly buckets (real MLOps store on SQLite), query PSI for
  every feature over the 7-day window;
* the query alone over the 7 days (168 hourly buckets x 51 names), median of 20;
* Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` on the same
  frames (loading them is not timed);
* the fold of 10 000 000 rows (``--fold-rows``), for its peak memory.

Writes ``bench/results/drift_vs_evidently.json`` (format: ``bench/README.md``).

    .venv/bin/python bench/drift_vs_evidently.py             # one run per side
    .venv/bin/python bench/drift_vs_evidently.py --runs 3    # end-to-end medians of 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

N_NUMERIC, N_CATEGORICAL = 40, 10
SHIFTED_NUMERIC = {f"n{i}" for i in range(8)}
SHIFTED_CATEGORICAL = {"c0", "c1"}
START = datetime(2024, 1, 1, tzinfo=UTC)
HOURS = 168
DEP = "b" * 24
RESULT = Path(__file__).parent / "results" / "drift_vs_evidently.json"


def make_frame(n: int, seed: int, shifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(N_NUMERIC):
        name = f"n{i}"
        loc = 0.5 if shifted and name in SHIFTED_NUMERIC else 0.0
        columns[name] = rng.normal(loc, 1.0, n)
    cats = np.array([f"v{j}" for j in range(8)])
    for i in range(N_CATEGORICAL):
        name = f"c{i}"
        p = np.full(8, 1 / 8)
        if shifted and name in SHIFTED_CATEGORICAL:
            p = np.array([0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05])
        columns[name] = cats[rng.choice(8, n, p=p)]
    return pd.DataFrame(columns)


def write_log(frame: pd.DataFrame, root: Path, seed: int, hours: int = HOURS) -> None:
    """Rows spread evenly over ``hours`` hours, one file per hour, in the prediction log's layout."""
    rng = np.random.default_rng(seed)
    per_hour = np.array_split(np.arange(len(frame)), hours)
    for h, index in enumerate(per_hour):
        hour = START + timedelta(hours=h % HOURS)
        part = frame.iloc[index]
        n = len(part)
        table = pa.table(
            {
                "timestamp": pa.array(
                    [hour + timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)],
                    pa.timestamp("us", "UTC"),
                ),
                "association_id": pa.nulls(n, pa.string()),
                "model_version": pa.array(["1"] * n),
                "prediction": pa.array(rng.beta(2, 5, n)),
                "status_code": pa.array(np.full(n, 200, dtype=np.int64)),
                "latency_ms": pa.array(np.repeat(rng.uniform(5, 50, n // 10 + 1), 10)[:n]),
                "row_id": pa.array([f"{h}-{i}" for i in range(n)]),
                **{f"f.{c}": pa.array(part[c].to_numpy()) for c in part.columns},
            }
        )
        directory = root / f"deployment={DEP}" / f"hour={hour:%Y%m%dT%H}"
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, directory / f"part-{h:06d}-bench.parquet")


def _peak_mib() -> float:
    """This process's peak RSS (VmHWM). ``ru_maxrss`` would not do: Linux carries it across
    fork+exec, so a spawned child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _deploy(store_url: str, baseline: Any) -> None:
    """The deployment monitoring reads, straight into a fresh store: no MLflow model to register."""
    from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
    from airflow_mlops.store import migrate

    migrate(store_url)
    insert_deployment_with_baseline(
        store_url, DEP, baseline, label="bench", registered_model_name="bench", target_name="y"
    )


def ours(work: str, out: Any) -> None:
    from airflow_mlops.monitoring import build_baseline
    from airflow_mlops.monitoring.fold import fold_new_predictions
    from airflow_mlops.monitoring.reads import list_feature_drift

    work_dir = Path(work)
    reference = pd.read_parquet(work_dir / "reference.parquet")
    store_url = f"sqlite:///{work_dir / 'ours.db'}"
    started = time.perf_counter()
    baseline = build_baseline(
        reference,
        prediction=pd.Series(np.random.default_rng(0).beta(2, 5, len(reference))),
        prediction_name="y",
    )
    _deploy(store_url, baseline)
    built = time.perf_counter()
    summary = fold_new_predictions(DEP, store_url=store_url, log_root=work_dir / "log")
    folded = time.perf_counter()
    drift = list_feature_drift(
        DEP, store_url=store_url, version="1", start_time=START, end_time=START + timedelta(hours=HOURS)
    )
    done = time.perf_counter()
    queries = []
    for _ in range(20):
        t = time.perf_counter()
        list_feature_drift(
            DEP, store_url=store_url, version="1", start_time=START, end_time=START + timedelta(hours=HOURS)
        )
        queries.append((time.perf_counter() - t) * 1000)
    out.put(
        {
            "rows_folded": summary.rows,
            "baseline_s": built - started,
            "fold_s": folded - built,
            "query_s": done - folded,
            "end_to_end_s": done - started,
            "query_ms_7d_median": statistics.median(queries),
            "query_ms_7d_all": queries,
            "peak_rss_mib": _peak_mib(),
            "drifted": {f.name: bool((f.drift_score or 0) >= 0.15) for f in drift},
            "scores": {f.name: f.drift_score for f in drift},
        }
    )


def evidently(work: str, out: Any) -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    work_dir = Path(work)
    reference = pd.read_parquet(work_dir / "reference.parquet")
    current = pd.read_parquet(work_dir / "current.parquet")
    loaded = _peak_mib()
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    result = snapshot.dict()
    elapsed = time.perf_counter() - started
    drifted: dict[str, bool] = {}
    methods: dict[str, str] = {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            method, threshold, value = config["method"], float(config["threshold"]), float(metric["value"])
            drifted[config["column"]] = value < threshold if "p_value" in method else value >= threshold
            methods[config["column"]] = method
    out.put(
        {
            "end_to_end_s": elapsed,
            "peak_rss_mib": _peak_mib(),
            "rss_after_loading_mib": loaded,
            "drifted": drifted,
            "methods": methods,
        }
    )


def fold_only(work: str, out: Any) -> None:
    from airflow_mlops.monitoring import build_baseline
    from airflow_mlops.monitoring.fold import fold_new_predictions

    work_dir = Path(work)
    reference = make_frame(100_000, 1, shifted=False)
    baseline = build_baseline(reference)
    del reference
    store_url = f"sqlite:///{work_dir / 'fold.db'}"
    _deploy(store_url, baseline)
    before = _peak_mib()
    started = time.perf_counter()
    summary = fold_new_predictions(DEP, store_url=store_url, log_root=work_dir / "biglog")
    out.put(
        {
            "rows": summary.rows,
            "fold_s": time.perf_counter() - started,
            "peak_rss_mib": _peak_mib(),
            "rss_before_fold_mib": before,
        }
    )


def write_big_log(work: str, rows: int, out: Any) -> None:
    """Untimed: ``rows`` logged rows over 168 hours, written a million at a time."""
    chunk = 1_000_000
    for k in range(0, rows, chunk):
        frame = make_frame(min(chunk, rows - k), 100 + k // chunk, shifted=True)
        write_log(frame, Path(work) / "biglog" / f"chunk{k // chunk}", seed=k, hours=HOURS)
        # one directory per chunk would break the layout: move files up
        for path in (Path(work) / "biglog" / f"chunk{k // chunk}").rglob("*.parquet"):
            target = Path(work) / "biglog" / path.relative_to(Path(work) / "biglog" / f"chunk{k // chunk}")
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target.with_name(f"part-{k // chunk:03d}-{target.name[5:]}"))
        shutil.rmtree(Path(work) / "biglog" / f"chunk{k // chunk}")
    out.put({"rows": rows})


def child(fn: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=fn, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"{fn.__name__} exited with {process.exitcode}")
    return dict(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fold-rows", type=int, default=10_000_000)
    parser.add_argument(
        "--runs", type=int, default=1, help="end-to-end repetitions per side (medians reported)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="drift-bench-"))
    try:
        reference = make_frame(100_000, 1, shifted=False)
        current = make_frame(1_000_000, 2, shifted=True)
        reference.to_parquet(work / "reference.parquet")
        current.to_parquet(work / "current.parquet")
        write_log(current, work / "log", seed=3)
        del reference, current
        ours_runs, evidently_runs = [], []
        for run in range(args.runs):
            if run:
                (work / "ours.db").unlink()
            ours_runs.append(child(ours, str(work)))
            evidently_runs.append(child(evidently, str(work)))
        o = min(ours_runs, key=lambda r: r["end_to_end_s"])
        e = min(evidently_runs, key=lambda r: r["end_to_end_s"])
        ours_s = statistics.median(r["end_to_end_s"] for r in ours_runs)
        evidently_s = statistics.median(r["end_to_end_s"] for r in evidently_runs)
        child(write_big_log, str(work), args.fold_rows)
        big = child(fold_only, str(work))
        agree = sum(o["drifted"][f] == e["drifted"].get(f) for f in o["drifted"])
        from importlib.metadata import version

        result = {
            "benchmark": "drift_vs_evidently",
            "date": datetime.now(UTC).date().isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "versions": {"airflow-mlops": version("airflow-mlops"), "evidently": version("evidently")},
            "cases": [
                {
                    "case": "100k baseline vs 1M current, 50 features (40 numeric, 10 categorical), 168 hours",
                    "ours": {k: v for k, v in o.items() if k not in ("drifted", "scores")},
                    "evidently": {k: v for k, v in e.items() if k not in ("drifted", "methods")},
                    "ours_end_to_end_s_runs": [r["end_to_end_s"] for r in ours_runs],
                    "evidently_end_to_end_s_runs": [r["end_to_end_s"] for r in evidently_runs],
                    "drift_decisions": {
                        "truly_shifted": sorted(SHIFTED_NUMERIC | SHIFTED_CATEGORICAL),
                        "ours_psi_ge_0.15": sorted(f for f, d in o["drifted"].items() if d),
                        "evidently": sorted(f for f, d in e["drifted"].items() if d),
                        "evidently_methods": e["methods"],
                        "ours_scores": o["scores"],
                        "features_where_both_agree": agree,
                    },
                },
                {"case": f"fold {args.fold_rows} rows (168 hours, 50 features)", **big},
            ],
            "summary": {
                "speedup_end_to_end": evidently_s / ours_s,
                "query_ms_7d": o["query_ms_7d_median"],
                "fold_peak_rss_mib_10m_rows": big["peak_rss_mib"],
            },
        }
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["summary"], indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
