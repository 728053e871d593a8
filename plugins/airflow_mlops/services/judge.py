"""Judging a challenger: is it better than the champion on the same recent labelled rows?

Both models are scored on the same rows, the holdout of the retrain's
snapshot: the most recent labelled rows of the window (when the policy names a
timestamp column), which the challenger was not fitted on and which the
champion, trained earlier, has not seen either. The metric is the policy's
``metric``, else the deployment's accuracy-health metric, else the task's
default (LogLoss, Accuracy, RMSE), computed with the accuracy-monitoring
formulas, so the numbers are those the deployment's accuracy health shows.

The challenger replaces the champion only when

* ``validate_replacement_model`` does not fail (same target, task, features), and
* it is better in the metric's own direction, by at least the policy's
  ``margin`` (in the metric's units: 0.02 AUC, 0.05 LogLoss...). A tie is not
  better: replacing a model has a cost (a new baseline, a reset history of
  accuracy) that an equal model does not pay back.

The decision is ``replace`` (the policy's replacement is ``automatic``),
``awaiting_approval`` (``approval``) or ``not_replaced``, with a message that
says why in numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import load_snapshot
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring.accuracy import default_accuracy_metric, get_accuracy_metric
from airflow_mlops.monitoring.model_baseline import evaluate_model
from airflow_mlops.registry import model_version_info
from airflow_mlops.retraining import record_outcome
from airflow_mlops.retraining.policy import retraining_policy

__all__ = ["DECISIONS", "Judgement", "judge_challenger", "judging_metric"]

DECISIONS = ("replace", "awaiting_approval", "not_replaced")


@dataclass(frozen=True)
class Judgement:
    decision: str
    message: str
    metric: str
    higher_is_better: bool
    champion_model_id: str
    challenger_model_id: str
    champion_score: float | None
    challenger_score: float | None
    improvement: float | None
    margin: float
    rows: int
    validation: dict[str, Any] = field(default_factory=dict)
    champion_metrics: dict[str, float | None] = field(default_factory=dict)
    challenger_metrics: dict[str, float | None] = field(default_factory=dict)

    def scores(self) -> dict[str, Any]:
        """What the request and the model history keep: both scores, on what, and by which rule."""
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "champion": self.champion_score,
            "challenger": self.challenger_score,
            "improvement": self.improvement,
            "margin": self.margin,
            "rows": self.rows,
            "champion_metrics": self.champion_metrics,
            "challenger_metrics": self.challenger_metrics,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judging_metric(deployment: Any, task: str) -> str:
    """The metric a challenger is judged on: policy, then accuracy health, then the task default."""

    retraining = deployment.settings.get("retraining", {})
    accuracy = deployment.settings.get("health", {}).get("accuracy", {})
    name = retraining.get("metric") or accuracy.get("metric") or default_accuracy_metric(task)
    try:
        get_accuracy_metric(name, task)
    except ValueError as exc:
        raise ValueError(f"deployment {deployment.id}: retraining.metric: {exc}") from None
    return str(name)


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def judge_challenger(
    deployment_id: str,
    challenger_model_id: str,
    labelled: pd.DataFrame,
    *,
    store_url: str | None = None,
) -> Judgement:
    """Score champion and challenger on ``labelled`` and decide under the deployment's policy."""

    deployment = Deployment.get(deployment_id, store_url=store_url)
    policy = retraining_policy(deployment)
    champion = deployment.model["id"]
    task = model_version_info(champion).task
    name = judging_metric(deployment, task)
    higher = get_accuracy_metric(name, task).higher_is_better
    status, why, checks = deployment.validate_replacement_model(challenger_model_id)
    validation = {"status": status, "message": why, "checks": checks}
    base: dict[str, Any] = {
        "metric": name,
        "higher_is_better": higher,
        "champion_model_id": champion,
        "challenger_model_id": challenger_model_id,
        "margin": policy.margin,
        "rows": len(labelled),
        "validation": validation,
    }
    if status == "failing":
        failing = {k: v["message"] for k, v in checks.items() if v["status"] == "failing"}
        return Judgement(
            decision="not_replaced",
            message=f"not replaced: {challenger_model_id} fails validation: {failing}",
            champion_score=None,
            challenger_score=None,
            improvement=None,
            **base,
        )
    champion_metrics = evaluate_model(champion, labelled)
    challenger_metrics = evaluate_model(challenger_model_id, labelled)
    old, new = champion_metrics.get(name), challenger_metrics.get(name)
    scored: dict[str, Any] = {
        "champion_score": old,
        "challenger_score": new,
        "champion_metrics": champion_metrics,
        "challenger_metrics": challenger_metrics,
    }
    versus = (
        f"{name} on {len(labelled)} recent labelled rows: challenger {challenger_model_id} {_fmt(new)}, "
        f"champion {champion} {_fmt(old)}"
    )
    if old is None or new is None:
        return Judgement(
            decision="not_replaced",
            message=f"not replaced: {versus}; the metric is undefined on these rows",
            improvement=None,
            **scored,
            **base,
        )
    improvement = (new - old) if higher else (old - new)
    better = improvement > 0 and improvement >= policy.margin
    if not better:
        decision = "not_replaced"
        message = (
            f"not replaced: {versus}; better by {improvement:+.4f}, the policy needs more than 0 "
            f"and at least {policy.margin:g}"
        )
    elif policy.replacement == "approval":
        decision = "awaiting_approval"
        message = f"awaiting approval: {versus}; better by {improvement:+.4f} (margin {policy.margin:g})"
    else:
        decision = "replace"
        message = f"replace: {versus}; better by {improvement:+.4f} (margin {policy.margin:g})"
    return Judgement(decision=decision, message=message, improvement=improvement, **scored, **base)


def judge_request(request: dict[str, Any], challenger_model_id: str, snapshot: Any) -> dict[str, Any]:
    """Judge a retrain's challenger on its snapshot's holdout; record a decision that ends the run.

    ``not_replaced`` and ``awaiting_approval`` are written to the request at once
    with both scores; ``replace`` is written once the swap is done
    (:func:`~airflow_mlops.services.replace_with_outcome`). Returns
    ``{"decision", "message", "scores", "champion_model_id", "challenger_model_id"}``.
    """
    if not isinstance(snapshot, dict) or not {"dataset", "version"} <= set(snapshot):
        raise TypeError(
            f"snapshot must be an ingestion result with 'dataset' and 'version', got {snapshot!r}"
        )
    snap = load_snapshot(get_settings().snapshots_dir, snapshot["dataset"], snapshot["version"])
    holdout = snap.holdout_frame()
    if holdout.empty:
        raise ValueError(
            f"snapshot {snapshot['dataset']}/{snapshot['version']} has no holdout rows to judge the challenger on"
        )
    judgement = judge_challenger(request["deployment_id"], challenger_model_id, holdout)
    if judgement.decision != "replace":
        record_outcome(
            request["id"],
            status=judgement.decision,
            message=judgement.message,
            champion_model_id=judgement.champion_model_id,
            challenger_model_id=challenger_model_id,
            scores=judgement.scores(),
            details={"snapshot": snapshot, "validation": judgement.validation},
        )
    return {
        "decision": judgement.decision,
        "message": judgement.message,
        "scores": judgement.scores(),
        "champion_model_id": judgement.champion_model_id,
        "challenger_model_id": challenger_model_id,
    }
