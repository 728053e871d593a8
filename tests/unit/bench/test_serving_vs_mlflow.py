"""The serving benchmark's plan, pairing and merging (bench/serving_vs_mlflow.py), without servers.

The benchmark itself takes minutes and wants the machine to itself; what decides which
cases run, how each explained case is paired with ours without explanations, and what a
partial run keeps of the result file is plain data, checked here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "serving_vs_mlflow.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serving_vs_mlflow", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("serving_vs_mlflow", module)
    spec.loader.exec_module(module)
    return module


def _raw(
    system: str, workers: int, rows: int, connections: int, explanations: int, rps: float
) -> dict[str, Any]:
    """A measured case as the script records it (p99 grows with explanations, to tell sides apart)."""
    p99 = 10.0 + explanations * 4
    return {
        "system": system,
        "workers": workers,
        "rows_per_request": rows,
        "connections": connections,
        "explanations": explanations,
        "throughput_rps": rps,
        "throughput_rps_runs": [rps],
        "rows_per_s": rps * rows,
        "errors": 0,
        "warmups": 1,
        "p50_ms": p99 / 2,
        "p90_ms": p99 * 0.8,
        "p99_ms": p99,
        "p999_ms": p99 * 1.2,
    }


def _measured(bench: ModuleType, case_set: str) -> list[dict[str, Any]]:
    """Every step of the plan, with ours at 400 req/s (100 explained), MLflow at 80."""
    raw = []
    for workers, system, steps in bench.plan(case_set):
        for rows, connections, explained in steps:
            explanations = bench.MAX_EXPLANATIONS if explained else 0
            rps = 80.0 if system == "mlflow" else (100.0 if explained else 400.0)
            raw.append(_raw(system, workers, rows, connections, explanations, rps))
    return raw


def test_the_explanation_cases_run_only_ours_each_after_its_plain_twin(bench: ModuleType) -> None:
    servers = bench.plan("explanations")
    assert [(workers, system) for workers, system, _ in servers] == [(1, "ours"), (2, "ours")]
    for _, _, steps in servers:
        assert steps == [
            (rows, connections, explained)
            for rows in bench.EXPLAIN_ROW_COUNTS
            for connections in bench.EXPLAIN_CONNECTIONS
            for explained in (False, True)
        ]
    assert set(bench.EXPLAIN_ROW_COUNTS) == {1, 100}


def test_a_full_run_adds_the_explained_steps_to_ours_and_the_comparison_none(bench: ModuleType) -> None:
    def steps(case_set: str, system: str) -> list[tuple[int, int, bool]]:
        return [s for _, name, server in bench.plan(case_set) if name == system for s in server]

    comparison = steps("comparison", "ours")
    assert not any(explained for _, _, explained in comparison)
    assert len(comparison) == 2 * len(bench.ROW_COUNTS) * len(bench.CONNECTIONS)
    full = steps("all", "ours")
    assert [s for s in full if not s[2]] == comparison
    explained = [s for s in full if s[2]]
    assert len(explained) == 2 * len(bench.EXPLAIN_ROW_COUNTS) * len(bench.EXPLAIN_CONNECTIONS)
    for step in explained:  # right after the plain step on the same rows and connections
        assert full[full.index(step) - 1] == (step[0], step[1], False)
    assert not any(s[2] for s in steps("all", "mlflow"))
    # The full run grows by the explained steps alone: at most ~40 % more timed cases.
    timed = sum(len(server) for _, _, server in bench.plan("comparison"))
    assert len(explained) <= 0.4 * timed


def test_an_explained_case_states_its_overhead_against_ours_without(bench: ModuleType) -> None:
    entries = bench.explanation_overheads(_measured(bench, "explanations"))
    assert len(entries) == 4
    first = entries[0]
    assert (first["workers"], first["rows_per_request"], first["connections"]) == (1, 1, 8)
    assert first["max_explanations"] == 5
    assert first["throughput_rps_explained"] == 100.0
    assert first["throughput_rps_plain"] == 400.0
    assert first["throughput_ratio"] == 0.25
    assert first["throughput_lost_pct"] == 75.0
    assert first["p99_added_ms"] == 20.0  # 30 ms explained against 10 ms plain
    assert first["p99_ratio"] == 3.0
    assert not any(key.endswith("_mlflow") for key in first)
    summary = bench.explanation_summary(entries)
    assert set(summary) == set(bench.EXPLANATION_SUMMARY_KEYS)
    assert summary["explained_throughput_ratio_min"] == 0.25
    assert summary["explained_p99_added_ms_max"] == 20.0


def test_the_comparison_ignores_the_explained_cases(bench: ModuleType) -> None:
    paired = bench.compare_with_mlflow(_measured(bench, "all"))
    assert len(paired) == 2 * len(bench.ROW_COUNTS) * len(bench.CONNECTIONS)
    assert {p["throughput_rps_ours"] for p in paired} == {400.0}  # never an explained run's 100
    assert {p["throughput_ratio"] for p in paired} == {5.0}


def _file(**summary: Any) -> dict[str, Any]:
    return {
        "benchmark": "serving_vs_mlflow",
        "date": "2026-12-01",
        "versions": {"airflow-mlops": "old"},
        "settings": {"seconds_per_run": 10.0},
        "cases": [{"workers": 1, "throughput_ratio": 9.0}],
        "summary": {"throughput_ratio_min": 9.0, **summary},
    }


def _explained_run(ratio: float) -> dict[str, Any]:
    return {
        "benchmark": "serving_vs_mlflow",
        "date": "2026-12-07",
        "versions": {"airflow-mlops": "new"},
        "settings": {"seconds_per_run": 3.0, "explanations": {"runs_per_case": 1}},
        "cases": [],
        "explanation_cases": [{"workers": 1, "throughput_ratio": ratio}],
        "summary": {
            "max_explanations": 5,
            "explained_throughput_ratio_min": ratio,
            "explained_throughput_lost_pct_max": 50.0,
            "explained_p99_added_ms_max": 4.0,
        },
    }


def test_an_explanations_run_keeps_the_comparison_with_mlflow_in_the_file(bench: ModuleType) -> None:
    merged = bench.merge_results(_file(), _explained_run(0.5), "explanations")
    assert merged["cases"] == [{"workers": 1, "throughput_ratio": 9.0}]
    assert merged["date"] == "2026-12-01"
    assert merged["versions"] == {"airflow-mlops": "old"}
    assert merged["settings"]["seconds_per_run"] == 10.0
    assert merged["settings"]["explanations"] == {"runs_per_case": 1}
    assert merged["explanation_cases"] == [{"workers": 1, "throughput_ratio": 0.5}]
    assert merged["summary"]["throughput_ratio_min"] == 9.0
    assert merged["summary"]["explained_throughput_ratio_min"] == 0.5
    # A second explanations run replaces the first one's cases rather than adding to them.
    again = bench.merge_results(merged, _explained_run(0.6), "explanations")
    assert again["explanation_cases"] == [{"workers": 1, "throughput_ratio": 0.6}]
    assert again["summary"]["explained_throughput_ratio_min"] == 0.6


def test_a_comparison_run_keeps_the_explanation_cases_and_a_full_run_replaces_all(bench: ModuleType) -> None:
    previous = bench.merge_results(_file(), _explained_run(0.5), "explanations")
    comparison = _file()
    comparison["date"] = "2026-12-08"
    comparison["summary"]["throughput_ratio_min"] = 7.0
    kept = bench.merge_results(previous, comparison, "comparison")
    assert kept["date"] == "2026-12-08"
    assert kept["summary"]["throughput_ratio_min"] == 7.0
    assert kept["explanation_cases"] == previous["explanation_cases"]
    assert kept["settings"]["explanations"] == {"runs_per_case": 1}
    assert kept["summary"]["explained_throughput_ratio_min"] == 0.5
    assert bench.merge_results(previous, comparison, "all") == comparison
    # No file yet, or another benchmark's: the run is the file.
    assert bench.merge_results(None, _explained_run(0.5), "explanations") == _explained_run(0.5)
    assert bench.merge_results({"benchmark": "ingest"}, comparison, "comparison") == comparison
