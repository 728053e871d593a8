"""Ingestion at scale against pandas: a 5-million-row, 30-column CSV, streamed with bounded memory.

Generates a reproducible CSV (an id, an ISO timestamp, 18 numeric columns of
which 10 have missing values, 9 categorical columns, a 0/1 target), then
measures, in the same run and alternating, each side in its own child process
(so each side's peak resident memory, VmHWM, is its own):

* **ours**: ``airflow_mlops.datasets.ingest`` with the defaults a pipeline
  uses: type inference, the contract, checks (including duplicate keys on the
  id), a stratified train/holdout split, the profile, the content hash, and
  two Parquet files; plus an identical re-ingest, which must return the same
  version without parsing;
* **pandas**: the reference, plain ``pd.read_csv`` + ``DataFrame.to_parquet``
  (no checks, no split, no profile), which holds the whole file in memory.

Writes ``bench/results/ingest.json`` in the format of ``bench/README.md``
(medians over ``--repeats`` runs).

    .venv/bin/python bench/ingest.py                    # 5,000,000 rows, 3 repeats
    .venv/bin/python bench/ingest.py --rows 200000 --repeats 1 --out /tmp/ingest.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

RESULT = Path(__file__).resolve().parent / "results" / "ingest.json"
SEED = 0
GENERATE_ROWS = 250_000
N_COLUMNS = 30
PEAK_RSS_BUDGET_MIB = 2048

OURS = """
import json, sys, time
t0 = time.perf_counter()
from airflow_mlops.datasets import ingest
source, snapshots = sys.argv[1:3]
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
started = time.perf_counter()
snap = ingest(source, dataset="bench", target="churned", snapshots_dir=snapshots, key="id")
seconds = time.perf_counter() - started
peak = hwm()
again_started = time.perf_counter()
again = ingest(source, dataset="bench", target="churned", snapshots_dir=snapshots, key="id")
reingest = time.perf_counter() - again_started
meta = snap.meta()
print("RESULT" + json.dumps({
    "seconds": seconds, "peak_rss_mib": peak, "import_seconds": started - t0,
    "rows": meta["n_rows"], "n_train": snap.n_train, "n_holdout": snap.n_holdout,
    "version": snap.version, "reingest_seconds": reingest, "reingest_same_version": again.version == snap.version,
    "split_method": meta["split_method"], "issues": meta["issues"],
}))
"""

PANDAS = """
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
source, out = sys.argv[1:3]
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
started = time.perf_counter()
frame = pd.read_csv(source)
frame.to_parquet(out, index=False)
seconds = time.perf_counter() - started
print("RESULT" + json.dumps({"seconds": seconds, "peak_rss_mib": hwm(), "import_seconds": started - t0,
                             "rows": len(frame)}))
"""


def generate(path: Path, rows: int) -> None:
    """Write the benchmark CSV in blocks (never all in memory), reproducibly."""
    rng = np.random.default_rng(SEED)
    categories = {f"cat_{i}": [f"c{i}_{j}" for j in range(3 + 6 * i)] for i in range(9)}
    start = np.datetime64("2024-01-01T00:00:00", "s")
    writer: pacsv.CSVWriter | None = None
    for offset in range(0, rows, GENERATE_ROWS):
        n = min(GENERATE_ROWS, rows - offset)
        index = np.arange(offset, offset + n)
        columns: dict[str, Any] = {
            "id": pa.array(np.char.add("cust-", index.astype(str))),
            "event_time": pa.array(np.datetime_as_string(start + index * 6, unit="s")),
        }
        for i in range(10):
            values = np.round(rng.normal(100 * (i + 1), 15 * (i + 1), n), 3)
            missing = rng.random(n) < 0.02
            columns[f"num_{i}"] = pa.array(values, mask=missing)
        for i in range(8):
            columns[f"int_{i}"] = pa.array(rng.poisson(3 + i, n).astype(np.int64))
        for name, levels in categories.items():
            columns[name] = pa.array(np.asarray(levels, dtype=object)[rng.integers(0, len(levels), n)])
        logit = (
            -1.2
            + 0.01 * (columns["num_0"].fill_null(100).to_numpy() - 100)
            + 0.2 * (columns["int_0"].to_numpy() - 3)
        )
        columns["churned"] = pa.array((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64))
        table = pa.table(columns)
        assert table.num_columns == N_COLUMNS
        if writer is None:
            writer = pacsv.CSVWriter(
                path, table.schema, write_options=pacsv.WriteOptions(quoting_style="needed")
            )
        writer.write_table(table)
    assert writer is not None
    writer.close()


def run_child(code: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
        check=False,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"benchmark child failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return dict(json.loads(line[len("RESULT") :]))


def summarize(runs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    median = statistics.median(seconds)
    return {
        "seconds_median": round(median, 2),
        "seconds_runs": [round(s, 2) for s in seconds],
        "rows_per_s": round(rows / median),
        "peak_rss_mib": round(statistics.median(r["peak_rss_mib"] for r in runs), 1),
        "peak_rss_mib_max": round(max(r["peak_rss_mib"] for r in runs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the CSV and outputs go (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    if args.rows < 1 or args.repeats < 1:
        parser.error(f"--rows and --repeats must be positive, got {args.rows} and {args.repeats}")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mlops-bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"bench_{args.rows}.csv"
    started = time.perf_counter()
    if not source.exists():
        print(f"generating {args.rows:,} rows x {N_COLUMNS} columns into {source} ...", flush=True)
        generate(source, args.rows)
    csv_bytes = source.stat().st_size
    print(f"CSV: {csv_bytes / 2**20:.0f} MiB ({time.perf_counter() - started:.0f} s)", flush=True)
    # The CSV lives in a temporary directory: allow exactly that directory as an ingestion root.
    env = {**os.environ, "MLOPS_ALLOWED_ROOTS": str(workdir), "PYTHONUNBUFFERED": "1"}

    ours_runs: list[dict[str, Any]] = []
    pandas_runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        snapshots = workdir / f"snapshots-{repeat}"
        shutil.rmtree(snapshots, ignore_errors=True)
        ours = run_child(OURS, [str(source), str(snapshots)], env)
        shutil.rmtree(snapshots, ignore_errors=True)
        ours_runs.append(ours)
        print(
            f"[{repeat + 1}/{args.repeats}] ours: {ours['seconds']:.1f} s, peak RSS {ours['peak_rss_mib']:.0f} MiB, "
            f"re-ingest {ours['reingest_seconds']:.1f} s",
            flush=True,
        )
        parquet = workdir / "pandas.parquet"
        theirs = run_child(PANDAS, [str(source), str(parquet)], env)
        parquet.unlink(missing_ok=True)
        pandas_runs.append(theirs)
        print(
            f"[{repeat + 1}/{args.repeats}] pandas: {theirs['seconds']:.1f} s, peak RSS "
            f"{theirs['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)

    assert all(r["rows"] == args.rows for r in ours_runs + pandas_runs), "a side lost rows"
    assert all(r["reingest_same_version"] for r in ours_runs), "an identical re-ingest changed the version"
    assert len({r["version"] for r in ours_runs}) == 1, "the version differs between identical runs"
    ours_summary = summarize(ours_runs, args.rows)
    ours_summary["reingest_seconds_median"] = round(
        statistics.median(r["reingest_seconds"] for r in ours_runs), 2
    )
    pandas_summary = summarize(pandas_runs, args.rows)
    case = {
        "case": "csv_5m_30_columns" if args.rows == 5_000_000 else f"csv_{args.rows}_30_columns",
        "rows": args.rows,
        "columns": N_COLUMNS,
        "csv_mib": round(csv_bytes / 2**20, 1),
        "ours_config": "inferred types and contract, all checks, key=id, stratified split, profile, content hash",
        "pandas_config": "pd.read_csv(path) then DataFrame.to_parquet(out, index=False)",
        "split_method": ours_runs[0]["split_method"],
        "n_train": ours_runs[0]["n_train"],
        "n_holdout": ours_runs[0]["n_holdout"],
        "issues": ours_runs[0]["issues"],
        "ours": ours_summary,
        "pandas": pandas_summary,
    }
    result = {
        "benchmark": "ingest",
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        },
        "versions": {
            "airflow-mlops": metadata.version("airflow-mlops"),
            "pandas": metadata.version("pandas"),
            "pyarrow": metadata.version("pyarrow"),
        },
        "cases": [case],
        "summary": {
            "rows": args.rows,
            "rows_per_s_ours": ours_summary["rows_per_s"],
            "rows_per_s_pandas": pandas_summary["rows_per_s"],
            "peak_rss_mib_ours": ours_summary["peak_rss_mib_max"],
            "peak_rss_mib_pandas": pandas_summary["peak_rss_mib_max"],
            "speed_ratio_ours_over_pandas": round(
                ours_summary["rows_per_s"] / pandas_summary["rows_per_s"], 3
            ),
            "peak_rss_under_2gib": ours_summary["peak_rss_mib_max"] < PEAK_RSS_BUDGET_MIB,
            "reingest_seconds": ours_summary["reingest_seconds_median"],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
