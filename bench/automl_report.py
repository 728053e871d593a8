"""Scores, normalised scores, gaps and the issue-19 targets of ``automl_vs_peers.py``.

Kept apart from the runner so that the figures the README quotes come from one
small module that reads only the result rows (no data, no systems).

Errors are the metric turned so that lower is better and 0 is perfect:
``1 - AUC``, LogLoss, RMSE. A system's *relative gap* on a dataset is its
error (mean over the seeds run) over the best system's, minus one; the
targets compare ours with the best *peer* the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The most our error may exceed the best peer's on any dataset (mean over seeds).
MAX_GAP = 0.01


def score(metric: str, y: Any, predicted: Any, classes: list[Any] | None) -> float:
    """Higher is better: AUC as is, LogLoss and RMSE negated."""
    from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error

    if metric == "AUC":
        assert classes is not None
        return float(roc_auc_score(np.asarray(y) == classes[1], np.asarray(predicted)[:, 1]))
    if metric == "LogLoss":
        assert classes is not None
        # log_loss reads the columns in the sorted order of the labels.
        order = sorted(range(len(classes)), key=lambda i: classes[i])
        proba = np.asarray(predicted, dtype=float)[:, order]
        # Rows off 1 by float32 rounding (AutoGluon's) would otherwise warn; the same for every system.
        proba = proba / proba.sum(axis=1, keepdims=True)
        return -float(log_loss(y, proba, labels=[classes[i] for i in order]))
    return -float(root_mean_squared_error(y, np.asarray(predicted)))


def error(metric: str, score_value: float) -> float:
    """The score as an error: lower is better, 0 perfect (1 - AUC, LogLoss, RMSE)."""
    return 1.0 - score_value if metric == "AUC" else -score_value


def constant_score(metric: str, train: Any, test: Any) -> float:
    """The test score of the training mean, or of the training class priors."""
    import pandas as pd

    train, test = pd.Series(train), pd.Series(test)
    if metric == "RMSE":
        return score(metric, test, np.full(len(test), float(train.mean())), None)
    classes = sorted(train.unique().tolist())
    priors = train.value_counts(normalize=True).reindex(classes).to_numpy()
    return score(metric, test, np.tile(priors, (len(test), 1)), classes)


def normalise(case: dict[str, Any], systems: list[str]) -> None:
    """``(score - constant) / (best - constant)`` per system, best over the systems with a score."""
    scored = [s for s in systems if isinstance(case.get(s), dict) and "score" in case[s]]
    for s in systems:
        if isinstance(case.get(s), dict):
            case[s].pop("normalized", None)
    if not scored:
        return
    constant = case["constant_score"]
    best = max(case[s]["score"] for s in scored)
    span = best - constant
    for s in scored:
        case[s]["normalized"] = (case[s]["score"] - constant) / span if span > 0 else 1.0


def complete(case: dict[str, Any], systems: list[str]) -> bool:
    return all(isinstance(case.get(s), dict) and "score" in case[s] for s in systems)


def per_dataset(cases: list[dict[str, Any]], systems: list[str], peers: list[str]) -> list[dict[str, Any]]:
    """One row per (budget, dataset): each system's mean error and normalised score over the seeds
    where every system finished, its relative gap to the best system, and ours to the best peer."""
    rows = []
    keys = sorted({(c["budget_s"], c["dataset"]) for c in cases})
    for budget, dataset in keys:
        done = [
            c for c in cases if c["budget_s"] == budget and c["dataset"] == dataset and complete(c, systems)
        ]
        if not done:
            continue
        metric = done[0]["metric"]
        errors = {s: float(np.mean([error(metric, c[s]["score"]) for c in done])) for s in systems}
        best = min(errors.values())
        best_peer = min(errors[p] for p in peers)
        row: dict[str, Any] = {
            "budget_s": budget,
            "dataset": dataset,
            "metric": metric,
            "error": "1 - AUC" if metric == "AUC" else metric,
            "seeds": sorted(c["seed"] for c in done),
        }
        for s in systems:
            row[f"error_{s}"] = errors[s]
            row[f"normalized_{s}"] = float(np.mean([c[s]["normalized"] for c in done]))
            row[f"gap_{s}"] = _gap(errors[s], best)
        row["gap_ours_to_best_peer"] = _gap(errors["ours"], best_peer)
        rows.append(row)
    return rows


def _gap(value: float, best: float) -> float:
    if best > 0:
        return value / best - 1.0
    return 0.0 if value <= best else float("inf")


def summarise(
    cases: list[dict[str, Any]],
    systems: list[str],
    peers: list[str],
    budgets: list[int],
    expected: dict[int, int] | None = None,
) -> dict[str, Any]:
    """The summary keys: means, worst gaps and the targets per budget.

    ``expected`` maps a budget to the number of (dataset, seed) cases a full run
    has; a budget with fewer complete cases is marked incomplete, and
    ``targets_met`` is true only when every budget is complete and passes.
    """
    summary: dict[str, Any] = {}
    rows = per_dataset(cases, systems, peers)
    verdicts = []
    for budget in budgets:
        done = [c for c in cases if c["budget_s"] == budget and complete(c, systems)]
        if not done:
            verdicts.append(False)
            continue
        means = {s: float(np.mean([c[s]["normalized"] for c in done])) for s in systems}
        for s in systems:
            summary[f"mean_normalized_{s}_{budget}s"] = means[s]
        summary[f"cases_{budget}s"] = len(done)
        for s in systems:  # failed cases score as the constant predictor
            summary[f"failures_{s}_{budget}s"] = sum(bool(c[s].get("failed")) for c in done)
        summary[f"datasets_{budget}s"] = len({c["dataset"] for c in done})
        b_rows = [r for r in rows if r["budget_s"] == budget]
        for s in systems:
            worst = max(b_rows, key=lambda r: r[f"gap_{s}"])
            summary[f"worst_gap_{s}_{budget}s"] = worst[f"gap_{s}"]
            summary[f"worst_gap_dataset_{s}_{budget}s"] = worst["dataset"]
        worst_peer = max(b_rows, key=lambda r: r["gap_ours_to_best_peer"])
        summary[f"max_gap_ours_to_best_peer_{budget}s"] = worst_peer["gap_ours_to_best_peer"]
        summary[f"max_gap_ours_to_best_peer_dataset_{budget}s"] = worst_peer["dataset"]
        summary[f"datasets_over_1pct_{budget}s"] = [
            r["dataset"] for r in b_rows if r["gap_ours_to_best_peer"] > MAX_GAP
        ]
        mean_ok = means["ours"] >= max(means[p] for p in peers)
        gap_ok = worst_peer["gap_ours_to_best_peer"] <= MAX_GAP
        full = expected is None or len(done) >= expected.get(budget, 0)
        summary[f"target_mean_normalized_{budget}s"] = "pass" if mean_ok else "fail"
        summary[f"target_gap_1pct_{budget}s"] = "pass" if gap_ok else "fail"
        summary[f"complete_{budget}s"] = full
        verdicts.append(mean_ok and gap_ok and full)
    summary["datasets"] = sorted({c["dataset"] for c in cases})
    summary["targets_met"] = bool(verdicts) and all(verdicts)
    return summary


def table(rows: list[dict[str, Any]], systems: list[str]) -> str:
    """The per-dataset rows as a Markdown table (mean error over seeds; gap of ours to the best peer)."""
    head = ["budget", "dataset", "error", *systems, "ours vs best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [f"{r['budget_s']} s", r["dataset"], r["error"]]
        cells += [f"{r[f'error_{s}']:.4g}" for s in systems]
        cells.append(f"{r['gap_ours_to_best_peer']:+.1%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_table(cases: list[dict[str, Any]], systems: list[str]) -> str:
    """Each (budget, dataset, seed) case as a Markdown row: every system's normalised score
    (``failed`` where it returned no model, blank where it has not run yet)."""
    head = ["budget", "dataset", "seed", *systems]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for c in sorted(cases, key=lambda c: (c["budget_s"], c["dataset"], c["seed"])):
        cells = [f"{c['budget_s']} s", c["dataset"], str(c["seed"])]
        for s in systems:
            entry = c.get(s)
            if not isinstance(entry, dict) or "normalized" not in entry:
                cells.append("")
            else:
                cells.append("failed" if entry.get("failed") else f"{entry['normalized']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
