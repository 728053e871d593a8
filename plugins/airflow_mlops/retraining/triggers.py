"""From a monitoring pass's verdicts to (at most) one retraining request.

Each failing health kind names a reason: drift health ``DATA_DRIFT``, accuracy
health ``ACCURACY``, server errors ``ERRORS``, slow answers ``SCORING_SPEED``
(see :func:`airflow_mlops.monitoring.health.service_failures`), fairness health
``OTHER`` (DataRobot has no fairness reason; the evidence says ``kind: fairness``
and which groups scored below the threshold). One pass makes
one request, carrying the evidence of every failing kind: one retrain answers
them all, and two requests would only meet the cool-down. The reason is the
first the policy triggers on in :data:`PRIORITY`; when the policy triggers on
none of them, the request is still recorded (as suppressed, saying so), so the
history shows that the deployment was failing and why nothing ran.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_mlops.retraining.requests import RetrainingRequest, request_retraining

__all__ = ["PRIORITY", "failing_reasons", "request_from_monitoring"]

#: A model measurably wrong on labelled data is the strongest evidence, then
#: inputs that moved away from training; service faults come last because a
#: new model fixes them less often than a new server does.
PRIORITY = ("ACCURACY", "DATA_DRIFT", "ERRORS", "SCORING_SPEED", "OTHER")


def failing_reasons(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Reason -> evidence for a pass summary (``MonitorResult.to_xcom()``), in :data:`PRIORITY` order."""
    window = {"window_start": summary["window_start"], "window_end": summary["window_end"]}
    found: dict[str, dict[str, Any]] = {}
    if summary.get("accuracy_status") == "failing":
        found["ACCURACY"] = {
            "message": summary["accuracy_message"],
            "accuracy": summary.get("accuracy") or {},
            "actuals_joined": summary.get("actuals_joined", 0),
            **window,
        }
    if summary.get("drift_status") == "failing":
        found["DATA_DRIFT"] = {
            "message": summary["drift_message"],
            "drift": summary.get("drift") or {},
            # What the drift rule judged, for the features it found drifted (statistic, score, why).
            "drifted": {
                name: verdict
                for name, verdict in (summary.get("drift_verdicts") or {}).items()
                if verdict.get("drifted")
            },
            **window,
        }
    stats = summary.get("service_stats") or {}
    for reason, why in (summary.get("service_failures") or {}).items():
        found[reason] = {
            "message": f"failing: {why}",
            "service_stats": {
                k: stats.get(k)
                for k in ("totalRequests", "serverErrorRate", "userErrorRate", "slowRequests", "responseTime")
            },
            **window,
        }
    if summary.get("fairness_status") == "failing":
        found["OTHER"] = {
            "kind": "fairness",
            "message": summary["fairness_message"],
            # Only the groups that failed, per feature and metric: the evidence a person reads.
            "fairness": [
                {
                    "protectedFeature": f["protectedFeature"],
                    "metricName": f["metricName"],
                    "fairnessThreshold": f["fairnessThreshold"],
                    "privilegedClass": f["privilegedClass"],
                    "failing": [
                        s for s in f["scores"] if s["passed"] is False and s["isStatisticallySignificant"]
                    ],
                }
                for f in summary.get("fairness") or []
            ],
            **window,
        }
    return {reason: found[reason] for reason in PRIORITY if reason in found}


def request_from_monitoring(
    deployment_id: str,
    summary: dict[str, Any],
    *,
    trigger_reasons: tuple[str, ...],
    store_url: str | None = None,
) -> RetrainingRequest | None:
    """The request a pass makes (accepted or suppressed), or None when nothing that names a reason fails."""
    reasons = failing_reasons(summary)
    if not reasons:
        return None
    chosen = next((r for r in reasons if r in trigger_reasons), next(iter(reasons)))
    evidence = {
        **reasons[chosen],
        "also_failing": {r: e["message"] for r, e in reasons.items() if r != chosen},
    }
    return request_retraining(
        deployment_id,
        chosen,
        evidence=evidence,
        origin="monitor",
        requested_at=datetime.fromisoformat(summary["window_end"]),
        store_url=store_url,
    )
