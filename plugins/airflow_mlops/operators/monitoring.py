"""MonitorDeploymentOperator: one monitoring pass; a failing drift health requests a retrain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Asset, AssetAlias, BaseOperator, Context

from airflow_mlops.config import get_settings
from airflow_mlops.hooks import apply_connections

#: Retrain requests: ``mlops_retrain`` is scheduled on this asset; each event's extra
#: carries ``deployment_id``, ``reason`` and the evidence.
RETRAIN_REQUESTS = Asset("mlops://retrain-requests", group="mlops")
#: Monitoring emits through an alias so that a healthy pass emits no event at all.
RETRAIN_REQUESTS_ALIAS = AssetAlias("mlops-retrain-requests")


def retrain_event_extra(request: dict[str, Any]) -> dict[str, Any]:
    """What a retrain-request Asset event carries (``mlops_retrain`` reads it)."""
    return {
        "request_id": request["id"],
        "deployment_id": request["deployment_id"],
        "reason": request["reason"],
        "evidence": request["evidence"],
    }


class MonitorDeploymentOperator(BaseOperator):
    """Fold new predictions, judge service, drift and accuracy health over a window, store the verdicts.

    When a health kind that names a retraining reason is failing (drift:
    ``DATA_DRIFT``, accuracy: ``ACCURACY``, server errors: ``ERRORS``, slow
    answers: ``SCORING_SPEED``), records a retraining request under the
    deployment's policy (reasons, cool-down) and, when the policy accepts it,
    emits a retrain request: an Asset event whose extra names the request, the
    deployment, the reason and the evidence. ``window_end`` is an ISO timestamp
    (default: the run's data interval end).
    """

    template_fields: Sequence[str] = ("deployment_id", "window_end", "window_hours", "report")

    def __init__(
        self,
        *,
        deployment_id: str,
        window_end: str | None = None,
        window_hours: int | str = 24,
        report: bool | str = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [RETRAIN_REQUESTS_ALIAS])
        super().__init__(**kwargs)
        self.deployment_id = deployment_id
        self.window_end = window_end
        self.window_hours = window_hours
        self.report = report

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.retraining import mark_dispatched
        from airflow_mlops.services import monitor_and_request

        apply_connections(self.log)
        if self.window_end:
            end = datetime.fromisoformat(str(self.window_end))
            end = end if end.tzinfo else end.replace(tzinfo=UTC)
        else:
            end = context.get("data_interval_end") or datetime.now(UTC)
        summary = monitor_and_request(
            self.deployment_id,
            get_settings(),
            window_end=end,
            window_hours=int(self.window_hours),
            report=str(self.report).lower() not in ("false", "0", "none", ""),
            progress=self.log.info,
        )
        self.log.info(
            "deployment %s: folded %d rows; service %s: %s; drift %s: %s; accuracy %s: %s; report %s",
            self.deployment_id,
            summary["folded_rows"],
            summary["service_status"],
            summary["service_message"],
            summary["drift_status"],
            summary["drift_message"],
            summary["accuracy_status"],
            summary["accuracy_message"],
            summary["report_uri"],
        )
        request = summary.get("retrain_request")
        if request is not None:
            if request["status"] == "requested":
                context["outlet_events"][RETRAIN_REQUESTS_ALIAS].add(
                    RETRAIN_REQUESTS, extra=retrain_event_extra(request)
                )
                mark_dispatched(request["id"])
                self.log.info("requested a retrain of %s for %s", self.deployment_id, request["reason"])
            else:
                self.log.info("retrain of %s not requested: %s", self.deployment_id, request["message"])
        return summary


class SubmitActualsOperator(BaseOperator):
    """Submit actuals to a deployment from a file (CSV, Parquet or JSON records).

    The file needs ``association_id`` and ``actual_value`` columns (optional
    ``timestamp``, ``was_acted_on``); returns the counts ``submit_actuals`` answers,
    including how many ids no logged prediction carries yet.
    """

    template_fields: Sequence[str] = ("deployment_id", "path", "batch_size")

    def __init__(
        self, *, deployment_id: str, path: str, batch_size: int | str = 10000, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.deployment_id = deployment_id
        self.path = path
        self.batch_size = batch_size

    def execute(self, context: Context) -> dict[str, int]:
        import pandas as pd

        from airflow_mlops.deployments import Deployment

        apply_connections(self.log)
        suffix = str(self.path).lower().rsplit(".", 1)[-1]
        readers = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}
        if suffix not in readers:
            raise ValueError(
                f"path={self.path!r} is not valid; expected a file ending in one of {sorted(readers)}"
            )
        frame = readers[suffix](self.path)
        result = Deployment.get(self.deployment_id).submit_actuals(frame, batch_size=int(self.batch_size))
        self.log.info("deployment %s: actuals %s", self.deployment_id, result)
        return result
