"""Monitoring after months of traffic: 90 days of hourly log files, one monitoring pass per hour.

One deployment, 50 features (40 numeric, 10 categorical of 5 to 500 levels) and
its prediction, with a baseline of 100 bins per numeric feature and every level of
each categorical (``build_baseline(n_bins=100, top_k=500)``, what issue 17 asks
the defaults to become). Each simulated hour, three servers (``--servers``) write
that hour's rows (1 000 to 5 000, following a daily cycle) through the real
``PredictionLogWriter``, one file each per flush (``--flushes``); then the pass a
scheduled ``mlops_monitor`` run makes folds them (``fold_new_predictions``),
followed by the prediction log's lifecycle step (compaction of closed hours and
retention, with a user's defaults: see :func:`lifecycle_step`).

Measured, all in this one process, on the real MLOps store (SQLite by default,
``--store-url`` for another):

* each pass's fold time; the summary compares the median of the last simulated
  day's passes with the first day's (target ratio <= 1.2);
* the RSS increase *during* each fold: VmRSS sampled every 5 ms by a thread, the
  highest sample minus VmRSS when the fold started (not the process's peak);
* ``FeatureDrift.list`` (``list_feature_drift``, every feature, PSI) over the last
  7 and the last 90 days, median of ``--queries`` calls, at days 7, 30, 60 and 90
  (and the last day);
  the windows end at 19:00 (the default window ends at the next top of the hour),
  so each has partial days at both edges: the worst case for the daily rollup;
* the MLOps store's and the prediction log's size on disk at the end of each day.

There is no peer here: the run compares the deployment with itself on day 1.
Writes ``bench/results/monitoring_90_days.json`` (format: ``bench/README.md``).

    .venv/bin/python bench/monitoring_90_days.py                 # 90 days, ~15 min on 2 CPUs
    .venv/bin/python bench/monitoring_90_days.py --days 3 --out /tmp/m3.json   # a quick check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_NUMERIC = 40
#: Levels of the 10 categorical features: a few small, most large, the largest at the cap.
CATEGORY_LEVELS = (5, 8, 12, 20, 50, 100, 200, 300, 400, 500)
DEP = "m" * 24
TARGET = "y"
START = datetime(2024, 1, 1, tzinfo=UTC)
QUERY_DAYS = (7, 30, 60, 90)
#: Query windows end at this hour of the checkpoint day (not midnight: partial days at both edges).
QUERY_END_HOUR = 19
RESULT = Path(__file__).parent / "results" / "monitoring_90_days.json"


# ---- traffic --------------------------------------------------------------------------------------


def _levels(k: int) -> np.ndarray:
    return np.array([f"c{k}_{j}" for j in range(CATEGORY_LEVELS[k])])


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


def make_features(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows of 40 numeric features (assorted shapes) and 10 Zipf-distributed categoricals."""
    columns: dict[str, Any] = {}
    for i in range(N_NUMERIC):
        kind = i % 4
        if kind == 0:
            columns[f"n{i}"] = rng.normal(0.0, 1.0, n)
        elif kind == 1:
            columns[f"n{i}"] = rng.lognormal(0.0, 1.0, n)
        elif kind == 2:
            columns[f"n{i}"] = rng.uniform(-1.0, 1.0, n)
        else:
            columns[f"n{i}"] = rng.poisson(3.0, n).astype(np.float64)
    for k in range(len(CATEGORY_LEVELS)):
        levels = _levels(k)
        columns[f"c{k}"] = levels[rng.choice(len(levels), n, p=_zipf(len(levels)))]
    return pd.DataFrame(columns)


def rows_in_hour(hour: int, rng: np.random.Generator) -> int:
    """1 000 to 5 000 rows, highest mid-afternoon and lowest before dawn, with some noise."""
    cycle = math.sin(2 * math.pi * ((hour % 24) - 9) / 24)
    return int(np.clip(3000 + 1800 * cycle + rng.normal(0, 150), 1000, 5000))


def write_hour(writers: list[Any], hour: datetime, n: int, flushes: int, rng: np.random.Generator) -> None:
    """The hour's rows, split among the servers, each flushing ``flushes`` files (the log's real writer)."""
    from airflow_mlops.prediction_log import PredictionBatch

    counts = rng.multinomial(n, rng.dirichlet(np.full(len(writers), 8.0)))
    for writer, size in zip(writers, counts, strict=True):
        seconds = np.sort(rng.integers(0, 3600, size))
        for part in np.array_split(np.arange(size), flushes):
            if not len(part):
                continue
            m = len(part)
            stamps = pd.to_datetime(hour) + pd.to_timedelta(seconds[part], unit="s")
            writer.append_batch(
                DEP,
                PredictionBatch(
                    size=m,
                    timestamp=pd.Series(stamps),
                    model_version="1",
                    status_code=200,
                    latency_ms=float(rng.uniform(5, 50)),
                    prediction=rng.beta(2.0, 5.0, m),
                    features=make_features(m, rng),
                ),
            )
            writer.flush()


# ---- measuring ------------------------------------------------------------------------------------


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssDuring:
    """The highest VmRSS sampled while the block runs, minus VmRSS as it starts."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.start = self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, rss_mib())

    def __enter__(self) -> RssDuring:
        self.start = self.peak = rss_mib()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())

    @property
    def increase_mib(self) -> float:
        return self.peak - self.start


def tree_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # a writer's temporary file, renamed meanwhile
                total += (Path(root) / name).stat().st_size
    return total


def store_bytes(store_url: str) -> int | None:
    """The SQLite store's files (database, WAL, shared memory); None for a server database."""
    if not store_url.startswith("sqlite:///"):
        return None
    db = Path(store_url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def lifecycle_step(store_url: str, log_root: Path, now: datetime) -> dict[str, Any]:
    """The prediction log's lifecycle after the fold, as every monitoring pass runs it.

    ``services.monitoring_pass.maintain_prediction_log`` with a user's defaults:
    compaction of hours closed 60 minutes (``MLOPS_PREDICTION_LOG_COMPACT_AFTER_MINUTES``)
    and no retention (``MLOPS_PREDICTION_LOG_RETENTION_DAYS`` is off by default), so
    the log's size per day is what a user keeps without setting one.
    """
    from airflow_mlops.monitoring.compaction import compact_prediction_log
    from airflow_mlops.monitoring.retention import apply_log_retention

    compacted = compact_prediction_log(
        DEP, store_url=store_url, log_root=log_root, grace=timedelta(minutes=60), now=now
    )
    expired = apply_log_retention(DEP, store_url=store_url, log_root=log_root, retention_days=None, now=now)
    done = {"compacted_hours": compacted.hours, "compacted_files": compacted.files_in}
    if expired.files:
        done["expired_files"] = expired.files
    return {k: v for k, v in done.items() if v}


def query_ms(store_url: str, end: datetime, days: int, repeats: int) -> dict[str, Any]:
    """``list_feature_drift`` over ``[end - days, end)``: the first (cold) call, then the median of ``repeats``."""
    from airflow_mlops.monitoring.reads import list_feature_drift

    def once() -> tuple[float, Any]:
        started = time.perf_counter()
        result = list_feature_drift(
            DEP, store_url=store_url, version="1", start_time=end - timedelta(days=days), end_time=end
        )
        return (time.perf_counter() - started) * 1000, result

    first, result = once()
    times = [once()[0] for _ in range(repeats)]
    return {
        "first_ms": first,
        "median_ms": statistics.median(times),
        "all_ms": [round(t, 3) for t in times],
        "features": len(result),
        "rows_in_window": max(f.sample_size for f in result),
    }


# ---- the run --------------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from airflow_mlops.monitoring import build_baseline
    from airflow_mlops.monitoring.fold import fold_new_predictions
    from airflow_mlops.monitoring.testing import insert_deployment_with_baseline
    from airflow_mlops.prediction_log import PredictionLogWriter
    from airflow_mlops.store import migrate

    store_url = args.store_url or f"sqlite:///{work / 'mlops.db'}"
    log_root = work / "log"
    rng = np.random.default_rng(args.seed)
    reference = make_features(100_000, rng)
    baseline = build_baseline(
        reference,
        prediction=pd.Series(rng.beta(2.0, 5.0, len(reference))),
        prediction_name=TARGET,
        n_bins=args.bins,
        top_k=args.top_k,
    )
    del reference
    migrate(store_url)
    insert_deployment_with_baseline(
        store_url, DEP, baseline, label="bench", registered_model_name="bench", target_name=TARGET
    )
    bins = {name: baseline.bins(name).n_bins for name in [*baseline.features, TARGET]}
    writers = [
        PredictionLogWriter(log_root, max_rows=10_000_000, max_delay_s=3600.0) for _ in range(args.servers)
    ]
    passes: list[dict[str, Any]] = []
    days: list[dict[str, Any]] = []
    queries: list[dict[str, Any]] = []
    query_at = {d * 24 - (24 - QUERY_END_HOUR) for d in (*QUERY_DAYS, args.days) if d <= args.days}
    hours = args.days * 24
    wall = time.perf_counter()
    try:
        for h in range(hours):
            hour = START + timedelta(hours=h)
            n = rows_in_hour(h, rng)
            write_hour(writers, hour, n, args.flushes, rng)
            # The pass of the run that starts at the end of this hour, as the scheduler makes it.
            with RssDuring() as rss:
                started = time.perf_counter()
                summary = fold_new_predictions(DEP, store_url=store_url, log_root=log_root)
                fold_s = time.perf_counter() - started
            started = time.perf_counter()
            lifecycle = lifecycle_step(store_url, log_root, hour + timedelta(hours=1))
            lifecycle_s = time.perf_counter() - started
            passes.append(
                {
                    "hour": h,
                    "rows": n,
                    "files": summary.files,
                    "folded_rows": summary.rows,
                    "fold_ms": fold_s * 1000,
                    "lifecycle_ms": lifecycle_s * 1000,
                    "rss_start_mib": rss.start,
                    "rss_increase_mib": rss.increase_mib,
                    **({"lifecycle": lifecycle} if lifecycle else {}),
                }
            )
            if summary.rows != n:
                raise RuntimeError(f"hour {h}: folded {summary.rows} rows, {n} were written")
            if h + 1 in query_at:
                end = START + timedelta(hours=h + 1)
                day = (h + 1 + 23) // 24
                queries.append(
                    {
                        "day": day,
                        "window_end": end.isoformat(),
                        "7d": query_ms(store_url, end, 7, args.queries),
                        "90d": query_ms(store_url, end, 90, args.queries),
                    }
                )
                print(
                    f"day {day}: 7-day query {queries[-1]['7d']['median_ms']:.1f} ms, "
                    f"90-day {queries[-1]['90d']['median_ms']:.1f} ms",
                    flush=True,
                )
            if (h + 1) % 24 == 0:
                day_passes = passes[-24:]
                days.append(
                    {
                        "day": (h + 1) // 24,
                        "rows": sum(p["rows"] for p in day_passes),
                        "fold_ms_median": statistics.median(p["fold_ms"] for p in day_passes),
                        "fold_ms_max": max(p["fold_ms"] for p in day_passes),
                        "rss_increase_mib_max": max(p["rss_increase_mib"] for p in day_passes),
                        "rss_start_mib": day_passes[0]["rss_start_mib"],
                        "store_bytes": store_bytes(store_url),
                        "log_bytes": tree_bytes(log_root),
                        "elapsed_s": time.perf_counter() - wall,
                        "load_average_1m": os.getloadavg()[0],  # other work on the machine meanwhile
                    }
                )
                print(
                    f"day {days[-1]['day']}: fold median {days[-1]['fold_ms_median']:.1f} ms, "
                    f"store {(days[-1]['store_bytes'] or 0) / 2**20:.1f} MiB, "
                    f"log {days[-1]['log_bytes'] / 2**20:.1f} MiB, {days[-1]['elapsed_s']:.0f} s",
                    flush=True,
                )
    finally:
        for writer in writers:
            writer.close()
    return {
        "store_url": store_url.split("@")[-1],
        "bins": bins,
        "passes": passes,
        "days": days,
        "queries": queries,
    }


def summarise(args: argparse.Namespace, measured: dict[str, Any]) -> dict[str, Any]:
    days, queries, passes = measured["days"], measured["queries"], measured["passes"]
    first, last = days[0], days[-1]
    final = queries[-1] if queries else None
    n_days = len(days)
    store_final = last["store_bytes"]
    summary: dict[str, Any] = {
        "days": n_days,
        "fold_ms_first_day": first["fold_ms_median"],
        "fold_ms_last_day": last["fold_ms_median"],
        "fold_ratio_last_over_first": last["fold_ms_median"] / first["fold_ms_median"],
        "query_ms_7d": final["7d"]["median_ms"] if final else None,
        "query_ms_90d": final["90d"]["median_ms"] if final else None,
        "store_mib_per_day": None if store_final is None else store_final / 2**20 / n_days,
        "log_mib_per_day": last["log_bytes"] / 2**20 / n_days,
        "fold_rss_increase_mib_max": max(p["rss_increase_mib"] for p in passes),
        "fold_rss_increase_mib_median": statistics.median(p["rss_increase_mib"] for p in passes),
        "lifecycle_enabled": any("lifecycle" in p for p in passes),
    }
    summary["targets_met"] = {
        "fold_ratio_le_1_2": summary["fold_ratio_last_over_first"] <= 1.2,
        "query_7d_lt_10ms": final is not None and summary["query_ms_7d"] < 10,
        "query_90d_lt_50ms": final is not None and n_days >= 90 and summary["query_ms_90d"] < 50,
    }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--servers", type=int, default=3, help="writers, each writing its own files per hour")
    parser.add_argument("--flushes", type=int, default=1, help="files per server per hour")
    parser.add_argument("--bins", type=int, default=100, help="baseline quantile bins per numeric feature")
    parser.add_argument("--top-k", type=int, default=500, help="baseline categories kept per categorical")
    parser.add_argument("--queries", type=int, default=20, help="timed calls per drift query (median)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--store-url", default=None, help="default: SQLite in the work directory")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="kept afterwards (default: a temporary one)"
    )
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="monitoring-90-days-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        measured = run(args, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    summary = summarise(args, measured)
    passes = measured.pop("passes")
    result = {
        "benchmark": "monitoring_90_days",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
        },
        "versions": {
            "airflow-mlops": version("airflow-mlops"),
            "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": version("sqlalchemy"),
            "pyarrow": version("pyarrow"),
            "numpy": version("numpy"),
        },
        "settings": {
            "features": {"numeric": N_NUMERIC, "categorical_levels": list(CATEGORY_LEVELS)},
            "baseline": {"n_bins": args.bins, "top_k": args.top_k, "bins_per_name": measured["bins"]},
            "rows_per_hour": "1000-5000, daily cycle",
            "servers": args.servers,
            "files_per_server_hour": args.flushes,
            "pass": "fold_new_predictions after each simulated hour, then lifecycle_step: compaction of hours closed 60 min, retention off (the defaults)",
            "store": measured["store_url"],
            "queries": f"list_feature_drift, every feature, PSI; median of {args.queries}; windows end at "
            f"{QUERY_END_HOUR}:00 UTC",
            "rss": "VmRSS sampled every 5 ms during each fold, highest sample minus VmRSS at the fold's start",
        },
        "cases": [
            {"case": "per day", "days": measured["days"]},
            {"case": "drift queries", "checkpoints": measured["queries"]},
            {
                "case": "passes of the first and last day",
                "first_day": passes[:24],
                "last_day": passes[-24:],
            },
        ],
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
