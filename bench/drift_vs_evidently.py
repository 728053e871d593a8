"""Drift: does our monitoring catch the drifts Evidently catches, and how much faster is it end to end?

Data: one frame of 50 features (36 numeric, 14 categorical), a 100 000-row
baseline and a 1 000 000-row current window. Each kind of shift is planted at two
strengths, each on its own feature (:data:`FEATURES`): a mean shift, a spread
change, a tail cluster, a shape change (lognormal sigma), a shifted uniform, a
rare-category surge, mixing with uniform, a brand-new category and a rise in
missing values (numeric and categorical); the other 30 features are unshifted
(normal, lognormal, uniform, exponential, Student's t, bimodal, integers, binary,
categoricals of 2 to 300 levels, some with a little missing data in both windows).

The current rows are written once, untimed, through the prediction-log writer
(:class:`PredictionLogWriter`, 100-row requests, one file per hour, as after
compaction) over 168 hours. Each measured side then runs in its own child process:

* ours, end to end, as a user would: ``build_baseline`` with its defaults on the
  100 000 rows, the deployment into a fresh SQLite store (creating the store's tables is
  installation, not monitoring, and is not timed), ``fold_new_predictions``
  of the 1 000 000 logged rows into hourly buckets, then the default drift-health
  decision for every feature over the 7 days (:func:`ours_decisions`);
* Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` on the same
  frames (loading them is not timed), its per-column decision and method read
  from the snapshot;
* the 7-day drift query alone (median of 20);
* the fold of 10 000 000 logged rows (``--fold-rows``), for the memory the fold
  adds: VmRSS sampled every 5 ms in a thread during the fold, minus VmRSS when
  the fold starts.

Each side's recall over the shifted features, false positives over the unshifted
ones, misses, per-kind results and chosen method per feature are written to
``bench/results/drift_vs_evidently.json`` (format: ``bench/README.md``).

    .venv/bin/python bench/drift_vs_evidently.py             # one run per side
    .venv/bin/python bench/drift_vs_evidently.py --runs 3    # end-to-end medians of 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

START = datetime(2024, 1, 1, tzinfo=UTC)
HOURS = 168
END = START + timedelta(hours=HOURS)
DEP = "b" * 24
VERSION = "1"
BASELINE_ROWS, CURRENT_ROWS = 100_000, 1_000_000
RESULT = Path(__file__).parent / "results" / "drift_vs_evidently.json"

Generator = Callable[[np.random.Generator, int, bool], np.ndarray]


@dataclass(frozen=True)
class Feature:
    """One column of the frame: how it is drawn in the baseline (``current=False``) and the current window.

    ``kind`` is the kind of shift planted (``None``: unshifted) and ``strength`` its size.
    """

    name: str
    draw: Generator
    kind: str | None = None
    strength: str | None = None


# ---- distributions --------------------------------------------------------------------------------
def _levels(n: int) -> np.ndarray:
    return np.array([f"L{j:03d}" for j in range(n)], dtype=object)


def _zipf(n: int, power: float = 1.0) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** power
    return p / p.sum()


def _categorical(levels: np.ndarray, p: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    # Indexing an object array shares the level strings: 1M rows cost pointers, not 1M str objects.
    return levels[rng.choice(len(levels), n, p=p)]


def _with_missing(values: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """``share`` of the rows set missing (NaN for numbers, None for categories)."""
    if share <= 0:
        return values
    out = values.astype(object if values.dtype == object else "float64", copy=True)
    out[rng.random(len(out)) < share] = None if out.dtype == object else np.nan
    return out


def normal(loc: float = 0.0, scale: float = 1.0) -> Generator:
    return lambda rng, n, current: rng.normal(loc, scale, n)


def mean_shift(sd: float) -> Generator:
    return lambda rng, n, current: rng.normal(sd if current else 0.0, 1.0, n)


def spread(factor: float) -> Generator:
    return lambda rng, n, current: rng.normal(0.0, factor if current else 1.0, n)


def tail_cluster(share: float, at_sd: float = 4.0) -> Generator:
    """``share`` of the current rows moved into a tight cluster at ``at_sd`` sd."""

    def draw(rng: np.random.Generator, n: int, current: bool) -> np.ndarray:
        x = rng.normal(0.0, 1.0, n)
        if current:
            moved = rng.random(n) < share
            x[moved] = rng.normal(at_sd, 0.1, int(moved.sum()))
        return x

    return draw


def lognormal(sigma: float, current_sigma: float | None = None) -> Generator:
    return lambda rng, n, current: rng.lognormal(
        0.0, current_sigma if current and current_sigma is not None else sigma, n
    )


def uniform(low: float = 0.0, high: float = 1.0, shift_sd: float = 0.0) -> Generator:
    shift = shift_sd * (high - low) / np.sqrt(12.0)
    return lambda rng, n, current: rng.uniform(low, high, n) + (shift if current else 0.0)


def missing_numeric(share: float) -> Generator:
    return lambda rng, n, current: _with_missing(rng.normal(5.0, 2.0, n), share if current else 0.0, rng)


def rare_surge(share: float, n_levels: int = 50) -> Generator:
    """A Zipf categorical whose rarest level (0.4% of the baseline) becomes ``share`` of the rows."""
    levels, p = _levels(n_levels), _zipf(n_levels)
    surged = np.append(p[:-1] * (1.0 - share) / p[:-1].sum(), share)
    return lambda rng, n, current: _categorical(levels, surged if current else p, rng, n)


def mix_uniform(share: float, n_levels: int = 20) -> Generator:
    """A skewed categorical mixed ``share`` with the uniform distribution over its levels."""
    levels = _levels(n_levels)
    p = 0.75 ** np.arange(n_levels)
    p /= p.sum()
    mixed = (1.0 - share) * p + share / n_levels
    return lambda rng, n, current: _categorical(levels, mixed if current else p, rng, n)


def new_category(share: float, n_levels: int = 30) -> Generator:
    """``share`` of the current rows take a value never seen in the baseline."""
    levels, p = _levels(n_levels), _zipf(n_levels, 0.8)

    def draw(rng: np.random.Generator, n: int, current: bool) -> np.ndarray:
        values = _categorical(levels, p, rng, n)
        if current:
            values = values.copy()
            values[rng.random(n) < share] = "NEW"
        return values

    return draw


def missing_categorical(share: float) -> Generator:
    levels = _levels(8)
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])
    return lambda rng, n, current: _with_missing(
        _categorical(levels, p, rng, n), share if current else 0.0, rng
    )


def categorical(n_levels: int, power: float = 1.0, missing: float = 0.0) -> Generator:
    levels, p = _levels(n_levels), _zipf(n_levels, power)
    return lambda rng, n, current: _with_missing(_categorical(levels, p, rng, n), missing, rng)


def _student_t(df: float) -> Generator:
    return lambda rng, n, current: rng.standard_t(df, n)


def _bimodal(rng: np.random.Generator, n: int, current: bool) -> np.ndarray:
    return np.where(rng.random(n) < 0.3, rng.normal(-2.0, 0.5, n), rng.normal(1.5, 1.0, n))


def _poisson(lam: float) -> Generator:
    return lambda rng, n, current: rng.poisson(lam, n).astype(np.int64)


def _missing_both(draw: Generator, share: float) -> Generator:
    return lambda rng, n, current: _with_missing(draw(rng, n, current), share, rng)


FEATURES: list[Feature] = [
    # shifted: each kind at two strengths, one feature each
    Feature("mean_0.1sd", mean_shift(0.1), "mean shift", "0.1 sd"),
    Feature("mean_0.25sd", mean_shift(0.25), "mean shift", "0.25 sd"),
    Feature("spread_x1.2", spread(1.2), "spread change", "sd x1.2"),
    Feature("spread_x1.5", spread(1.5), "spread change", "sd x1.5"),
    Feature("tail_5pct", tail_cluster(0.05), "tail cluster", "5% of rows at +4 sd"),
    Feature("tail_10pct", tail_cluster(0.10), "tail cluster", "10% of rows at +4 sd"),
    Feature("shape_sigma1.15", lognormal(1.0, 1.15), "shape change", "lognormal sigma 1.0 -> 1.15"),
    Feature("shape_sigma1.3", lognormal(1.0, 1.3), "shape change", "lognormal sigma 1.0 -> 1.3"),
    Feature("uniform_0.1sd", uniform(shift_sd=0.1), "uniform shifted", "0.1 sd"),
    Feature("uniform_0.25sd", uniform(shift_sd=0.25), "uniform shifted", "0.25 sd"),
    Feature("missing_num_5pct", missing_numeric(0.05), "missing values rise (numeric)", "0% -> 5%"),
    Feature("missing_num_20pct", missing_numeric(0.20), "missing values rise (numeric)", "0% -> 20%"),
    Feature("rare_surge_5pct", rare_surge(0.05), "rare-category surge", "rarest of 50 levels -> 5%"),
    Feature("rare_surge_10pct", rare_surge(0.10), "rare-category surge", "rarest of 50 levels -> 10%"),
    Feature("mix_uniform_25pct", mix_uniform(0.25), "mixing with uniform", "20 levels, 25% uniform"),
    Feature("mix_uniform_50pct", mix_uniform(0.50), "mixing with uniform", "20 levels, 50% uniform"),
    Feature("new_category_5pct", new_category(0.05), "brand-new category", "5% of rows"),
    Feature("new_category_10pct", new_category(0.10), "brand-new category", "10% of rows"),
    Feature("missing_cat_5pct", missing_categorical(0.05), "missing values rise (categorical)", "0% -> 5%"),
    Feature("missing_cat_20pct", missing_categorical(0.20), "missing values rise (categorical)", "0% -> 20%"),
    # unshifted: 24 numeric
    Feature("normal_a", normal()),
    Feature("normal_b", normal()),
    Feature("normal_50_10", normal(50.0, 10.0)),
    Feature("normal_neg3_0.5", normal(-3.0, 0.5)),
    Feature("normal_1000_200", normal(1000.0, 200.0)),
    Feature("lognormal_0.5", lognormal(0.5)),
    Feature("lognormal_1.0", lognormal(1.0)),
    Feature("lognormal_1.5", lognormal(1.5)),
    Feature("uniform_01", uniform()),
    Feature("uniform_pm5", uniform(-5.0, 5.0)),
    Feature("uniform_0_1000", uniform(0.0, 1000.0)),
    Feature("exponential_a", lambda rng, n, current: rng.exponential(1.0, n)),
    Feature("exponential_b", lambda rng, n, current: rng.exponential(30.0, n)),
    Feature("student_t3_a", _student_t(3.0)),
    Feature("student_t3_b", _student_t(3.0)),
    Feature("bimodal_a", _bimodal),
    Feature("bimodal_b", _bimodal),
    Feature("poisson_3", _poisson(3.0)),
    Feature("poisson_20", _poisson(20.0)),
    Feature("int_0_99", lambda rng, n, current: rng.integers(0, 100, n)),
    Feature("binary_0.3", lambda rng, n, current: (rng.random(n) < 0.3).astype(np.int64)),
    Feature("normal_missing2pct_a", _missing_both(normal(), 0.02)),
    Feature("normal_missing2pct_b", _missing_both(normal(10.0, 3.0), 0.02)),
    Feature("lognormal_missing1pct", _missing_both(lognormal(0.8), 0.01)),
    # unshifted: 6 categorical
    Feature("cat_binary", lambda rng, n, current: _categorical(_levels(2), np.array([0.7, 0.3]), rng, n)),
    Feature("cat_5", categorical(5, 0.5)),
    Feature("cat_20_zipf", categorical(20)),
    Feature("cat_100_zipf", categorical(100)),
    Feature("cat_300_zipf", categorical(300, 1.1)),
    Feature("cat_12_missing3pct", categorical(12, 0.7, missing=0.03)),
]
SHIFTED = [f.name for f in FEATURES if f.kind is not None]
UNSHIFTED = [f.name for f in FEATURES if f.kind is None]


def make_frame(n: int, seed: int, current: bool) -> pd.DataFrame:
    """``n`` rows of every feature; ``current=True`` plants the shifts."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f.name: f.draw(rng, n, current) for f in FEATURES})


def write_log(frame: pd.DataFrame, root: Path, seed: int, request_rows: int = 100) -> None:
    """The rows as the server would have logged them: requests of ``request_rows`` rows spread
    evenly over :data:`HOURS` hours, through the prediction-log writer, one file per hour."""
    from airflow_mlops.prediction_log import PredictionBatch, PredictionLogWriter

    rng = np.random.default_rng(seed)
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    prediction = rng.beta(2, 5, len(frame))
    with PredictionLogWriter(root, max_rows=10**8, max_delay_s=10**6) as writer:
        for h, index in enumerate(np.array_split(np.arange(len(frame)), HOURS)):
            hour = START + timedelta(hours=h)
            starts = range(int(index[0]), int(index[-1]) + 1, request_rows) if len(index) else range(0)
            offsets = np.sort(rng.uniform(0, 3600, len(starts)))
            for a, offset in zip(starts, offsets, strict=True):
                b = min(a + request_rows, int(index[-1]) + 1)
                latency = float(rng.uniform(5, 50))
                writer.append_batch(
                    DEP,
                    PredictionBatch(
                        size=b - a,
                        timestamp=hour + timedelta(seconds=float(offset)),
                        model_version=VERSION,
                        status_code=200,
                        latency_ms=latency,
                        prediction=prediction[a:b],
                        features={name: values[a:b] for name, values in columns.items()},
                        # the request columns the server writes (prediction_log.layout)
                        extras={
                            "request_id": f"{seed}-{h}-{a}",
                            "caller": "bench-client",
                            "cache_hit": True,
                            "execution_ms": latency * 0.8,
                        },
                    ),
                )
            writer.flush()


# ---- measuring ------------------------------------------------------------------------------------
def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {key}")


def _peak_mib() -> float:
    """This process's peak RSS (VmHWM). ``ru_maxrss`` would not do: Linux carries it across
    fork+exec, so a spawned child would report its parent's peak."""
    return _status_mib("VmHWM")


class RssSampler:
    """The highest VmRSS seen while it runs, read every ``every_s`` seconds in a thread.

    What a step adds to memory is this peak minus the RSS when it started; VmHWM
    would report the process's peak since it began, whatever came before the step.
    """

    def __init__(self, every_s: float = 0.005) -> None:
        self.start_mib = _status_mib("VmRSS")
        self.peak_mib = self.start_mib
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.peak_mib = max(self.peak_mib, _status_mib("VmRSS"))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, _status_mib("VmRSS"))


def _deploy(store_url: str, baseline: Any) -> None:
    """The deployment monitoring reads, straight into a migrated store: no MLflow model to register."""
    from airflow_mlops.monitoring.testing import insert_deployment_with_baseline

    insert_deployment_with_baseline(
        store_url, DEP, baseline, label="bench", registered_model_name="bench", target_name="y"
    )


def ours_decisions(store_url: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """Our default drift-health decision for every feature over the 7 days: (rule, per feature).

    The one place that says what "ours flags a feature" means: the default
    drift-health rule (``judge_feature_drift``) where it exists, else the
    DataRobot-style default of ``FeatureDrift.list``, PSI >= 0.15.
    """
    try:
        from airflow_mlops.monitoring.reads.drift import judge_feature_drift
    except ImportError:
        from airflow_mlops.monitoring.reads import list_feature_drift

        drift = list_feature_drift(DEP, store_url=store_url, version=VERSION, start_time=START, end_time=END)
        return "psi >= 0.15 (FeatureDrift.list default)", {
            f.name: {
                "drifted": bool((f.drift_score or 0.0) >= 0.15),
                "statistic": "psi",
                "score": f.drift_score,
                "threshold": 0.15,
            }
            for f in drift
        }
    verdicts = judge_feature_drift(DEP, store_url=store_url, version=VERSION, start_time=START, end_time=END)
    return "default drift-health rule (judge_feature_drift)", {
        v.name: {
            "drifted": bool(v.drifted),
            "statistic": v.statistic,
            "score": v.score,
            "threshold": v.threshold,
            "reason": v.reason,
        }
        for v in verdicts
    }


def ours(work: str, out: Any) -> None:
    from airflow_mlops.monitoring import build_baseline
    from airflow_mlops.monitoring.fold import fold_new_predictions
    from airflow_mlops.monitoring.reads import list_feature_drift
    from airflow_mlops.store import migrate

    work_dir = Path(work)
    reference = pd.read_parquet(work_dir / "reference.parquet")
    prediction = pd.Series(np.random.default_rng(0).beta(2, 5, len(reference)))
    store_url = f"sqlite:///{work_dir / 'ours.db'}"
    migrate(store_url)  # creating the store is installation, not monitoring: untimed
    started = time.perf_counter()
    baseline = build_baseline(reference, prediction=prediction, prediction_name="y")
    _deploy(store_url, baseline)
    built = time.perf_counter()
    summary = fold_new_predictions(DEP, store_url=store_url, log_root=work_dir / "log")
    folded = time.perf_counter()
    rule, decisions = ours_decisions(store_url)
    done = time.perf_counter()
    queries = []
    for _ in range(20):
        t = time.perf_counter()
        list_feature_drift(DEP, store_url=store_url, version=VERSION, start_time=START, end_time=END)
        queries.append((time.perf_counter() - t) * 1000)
    out.put(
        {
            "rows_folded": summary.rows,
            "files_folded": summary.files,
            "baseline_s": built - started,
            "fold_s": folded - built,
            "decide_s": done - folded,
            "end_to_end_s": done - started,
            "query_ms_7d_median": statistics.median(queries),
            "peak_rss_mib": _peak_mib(),
            "rule": rule,
            "decisions": decisions,
        }
    )


def _evidently_drifted(method: str, value: float, threshold: float) -> bool:
    """Evidently's own rule: a p-value drifts below its threshold, a distance at or above it."""
    return value < threshold if "p_value" in method else value >= threshold


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
    decisions: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            method, threshold, value = config["method"], float(config["threshold"]), float(metric["value"])
            decisions[config["column"]] = {
                "drifted": _evidently_drifted(method, value, threshold),
                "statistic": method,
                "score": value,
                "threshold": threshold,
            }
    out.put(
        {
            "end_to_end_s": elapsed,
            "peak_rss_mib": _peak_mib(),
            "rss_after_loading_mib": loaded,
            "decisions": decisions,
        }
    )


def fold_only(work: str, out: Any) -> None:
    from airflow_mlops.monitoring import build_baseline
    from airflow_mlops.monitoring.fold import fold_new_predictions
    from airflow_mlops.store import migrate

    work_dir = Path(work)
    reference = make_frame(BASELINE_ROWS, 1, current=False)
    baseline = build_baseline(reference)
    del reference
    store_url = f"sqlite:///{work_dir / 'fold.db'}"
    migrate(store_url)
    _deploy(store_url, baseline)
    started = time.perf_counter()
    with RssSampler() as rss:
        summary = fold_new_predictions(DEP, store_url=store_url, log_root=work_dir / "biglog")
    out.put(
        {
            "rows": summary.rows,
            "files": summary.files,
            "fold_s": time.perf_counter() - started,
            "rss_at_fold_start_mib": rss.start_mib,
            "rss_peak_during_fold_mib": rss.peak_mib,
            "rss_increase_during_fold_mib": rss.peak_mib - rss.start_mib,
            "process_peak_rss_mib": _peak_mib(),
        }
    )


def write_big_log(work: str, rows: int, out: Any) -> None:
    """Untimed: ``rows`` logged rows over 168 hours, a million at a time (so several files per hour)."""
    chunk = 1_000_000
    for k in range(0, rows, chunk):
        frame = make_frame(min(chunk, rows - k), 100 + k // chunk, current=True)
        write_log(frame, Path(work) / "biglog", seed=k, request_rows=1000)
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


# ---- scoring the decisions ------------------------------------------------------------------------
def score(decisions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Recall over the shifted features, false positives over the unshifted ones."""
    flagged = {name for name, d in decisions.items() if d["drifted"]}
    caught = [n for n in SHIFTED if n in flagged]
    false_positives = [n for n in UNSHIFTED if n in flagged]
    return {
        "recall": len(caught) / len(SHIFTED),
        "shifted_flagged": len(caught),
        "false_positives": len(false_positives),
        "missed": [n for n in SHIFTED if n not in flagged],
        "false_positive_features": false_positives,
    }


def per_shift(o: dict[str, dict[str, Any]], e: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Kind x strength -> flagged by ours / by Evidently, with each side's statistic and score."""
    rows = []
    for f in FEATURES:
        if f.kind is None:
            continue
        rows.append(
            {
                "kind": f.kind,
                "strength": f.strength,
                "feature": f.name,
                "ours": o[f.name]["drifted"],
                "evidently": e[f.name]["drifted"],
                "ours_statistic": o[f.name]["statistic"],
                "ours_score": o[f.name]["score"],
                "ours_threshold": o[f.name]["threshold"],
                "evidently_method": e[f.name]["statistic"],
                "evidently_score": e[f.name]["score"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fold-rows", type=int, default=10_000_000, help="rows of the memory case (0: skip)")
    parser.add_argument(
        "--runs", type=int, default=1, help="end-to-end repetitions per side (medians reported)"
    )
    parser.add_argument("--baseline-rows", type=int, default=BASELINE_ROWS)
    parser.add_argument("--current-rows", type=int, default=CURRENT_ROWS)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="drift-bench-"))
    try:
        reference = make_frame(args.baseline_rows, 1, current=False)
        current = make_frame(args.current_rows, 2, current=True)
        reference.to_parquet(work / "reference.parquet")
        current.to_parquet(work / "current.parquet")
        write_log(current, work / "log", seed=3)
        del reference, current
        ours_runs, evidently_runs = [], []
        for run in range(args.runs):
            if run:
                (work / "ours.db").unlink()
            ours_runs.append(child(ours, str(work)))
            print(f"ours run {run + 1}: {ours_runs[-1]['end_to_end_s']:.2f} s", flush=True)
            evidently_runs.append(child(evidently, str(work)))
            print(f"evidently run {run + 1}: {evidently_runs[-1]['end_to_end_s']:.2f} s", flush=True)
        o, e = ours_runs[-1], evidently_runs[-1]
        ours_s = statistics.median(r["end_to_end_s"] for r in ours_runs)
        evidently_s = statistics.median(r["end_to_end_s"] for r in evidently_runs)
        big: dict[str, Any] = {}
        if args.fold_rows:
            child(write_big_log, str(work), args.fold_rows)
            big = child(fold_only, str(work))
        ours_score, evidently_score = score(o["decisions"]), score(e["decisions"])
        from importlib.metadata import version

        cases: list[dict[str, Any]] = [
            {
                "case": (
                    f"{args.baseline_rows} baseline vs {args.current_rows} current rows, {len(FEATURES)} features "
                    f"({len(FEATURES) - 14} numeric, 14 categorical; {len(SHIFTED)} shifted), {HOURS} hours"
                ),
                "ours": {
                    **{k: v for k, v in o.items() if k != "decisions"},
                    **ours_score,
                    "end_to_end_s_runs": [r["end_to_end_s"] for r in ours_runs],
                    "end_to_end_s_median": ours_s,
                },
                "evidently": {
                    **{k: v for k, v in e.items() if k != "decisions"},
                    **evidently_score,
                    "preset": "DataDriftPreset() defaults",
                    "end_to_end_s_runs": [r["end_to_end_s"] for r in evidently_runs],
                    "end_to_end_s_median": evidently_s,
                },
                "per_shift": per_shift(o["decisions"], e["decisions"]),
                "unshifted_flagged": {
                    "ours": ours_score["false_positive_features"],
                    "evidently": evidently_score["false_positive_features"],
                },
                "methods": {
                    f.name: {
                        "shift": f.kind,
                        "ours": o["decisions"][f.name]["statistic"],
                        "ours_score": o["decisions"][f.name]["score"],
                        "ours_drifted": o["decisions"][f.name]["drifted"],
                        "evidently": e["decisions"][f.name]["statistic"],
                        "evidently_score": e["decisions"][f.name]["score"],
                        "evidently_drifted": e["decisions"][f.name]["drifted"],
                    }
                    for f in FEATURES
                },
            }
        ]
        if big:
            cases.append(
                {"case": f"fold {args.fold_rows} rows ({HOURS} hours, {len(FEATURES)} features)", **big}
            )
        result = {
            "benchmark": "drift_vs_evidently",
            "date": datetime.now(UTC).date().isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_average_at_end": list(os.getloadavg()),
            },
            "versions": {"airflow-mlops": version("airflow-mlops"), "evidently": version("evidently")},
            "settings": {"runs": args.runs, "fold_rows": args.fold_rows, "ours_rule": o["rule"]},
            "cases": cases,
            "summary": {
                "recall_ours": ours_score["recall"],
                "recall_evidently": evidently_score["recall"],
                "false_positives_ours": ours_score["false_positives"],
                "false_positives_evidently": evidently_score["false_positives"],
                "shifted_features": len(SHIFTED),
                "unshifted_features": len(UNSHIFTED),
                "speedup_end_to_end": evidently_s / ours_s,
                "query_ms_7d": o["query_ms_7d_median"],
                "fold_rss_increase_mib_10m_rows": big.get("rss_increase_during_fold_mib"),
                "fold_peak_rss_mib_10m_rows": big.get("rss_peak_during_fold_mib"),
            },
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["summary"], indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
