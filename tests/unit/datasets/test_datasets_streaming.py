"""Bounded memory: the data held during ingestion does not grow with the source.

Each ingestion runs in a child process that measures the peak of the memory
it holds: Python and numpy allocations (``tracemalloc``) plus Arrow's memory
pool. That is the data memory this code controls, without the allocators'
own retention, which makes resident-set numbers too noisy for a unit test.
The fixed-size buffers (the quantile sample, the Parquet row-group buffer, the
CSV block) are scaled down with the data, so that a source four times larger
must leave the peak almost unchanged, whereas loading it whole would add at
least its own size. The duplicate-key index, which grows by 16 bytes a key by
design, is measured in ``test_datasets_keys.py``; the 5-million-row run with
resident-set peaks is ``bench/ingest.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

CHILD = """
import json, sys, tracemalloc
import pyarrow as pa
from airflow_mlops.datasets import ingest, profile, snapshot

profile.SAMPLE_SIZE = 2_000
snapshot.ROW_GROUP_ROWS = 8_192
source, snapshots = sys.argv[1:3]
tracemalloc.start()
snap = ingest(source, dataset="big", target="label", snapshots_dir=snapshots, options={"block_size": 1 << 18})
python_peak = tracemalloc.get_traced_memory()[1]
print("RESULT" + json.dumps({"peak": python_peak + pa.default_memory_pool().max_memory(),
                             "rows": snap.n_train + snap.n_holdout}))
"""


def _write(path: Path, rows: int) -> Path:
    rng = np.random.default_rng(rows)
    table = pa.table(
        {
            "id": pa.array(np.char.add("row-", np.arange(rows).astype(str))),
            **{f"x{i}": np.round(rng.normal(size=rows), 4) for i in range(8)},
            "city": rng.choice(["Lyon", "Oslo", "Lima", "Pune"], rows),
            "label": rng.integers(0, 2, rows),
        }
    )
    pacsv.write_csv(table, path)
    return path


def _start(tmp_path: Path, source: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "MLOPS_ALLOWED_ROOTS": str(tmp_path)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(source), str(tmp_path / f"snapshots-{source.stem}")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, int]:
    stdout, stderr = proc.communicate(timeout=300)
    line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, stderr[-3000:]
    return dict(json.loads(line[len("RESULT") :]))


def test_data_memory_does_not_grow_with_the_source(tmp_path: Path) -> None:
    small = _write(tmp_path / "small.csv", 100_000)
    large = _write(tmp_path / "large.csv", 400_000)
    children = [_start(tmp_path, small), _start(tmp_path, large)]  # side by side
    at_small, at_large = (_result(child) for child in children)
    assert (at_small["rows"], at_large["rows"]) == (100_000, 400_000)
    mib = 2**20
    extra = large.stat().st_size - small.stat().st_size
    message = (
        f"peak data memory {at_small['peak'] / mib:.1f} MiB for {small.stat().st_size / mib:.0f} MiB of CSV, "
        f"{at_large['peak'] / mib:.1f} MiB for {large.stat().st_size / mib:.0f} MiB"
    )
    assert at_large["peak"] - at_small["peak"] < 0.1 * extra, message
    assert at_large["peak"] < large.stat().st_size, message  # less than the file itself
