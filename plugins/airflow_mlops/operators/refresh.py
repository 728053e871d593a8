"""RetrainingDispatchOperator: scheduled refreshes, and requests made outside Airflow, become retrain events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.hooks import apply_connections
from airflow_mlops.operators.monitoring import RETRAIN_REQUESTS, RETRAIN_REQUESTS_ALIAS, retrain_event_extra


class RetrainingDispatchOperator(BaseOperator):
    """Request the refreshes that are due and emit a retrain event for every waiting request.

    For each active deployment whose policy has a ``refresh_schedule`` that fired
    in this run's data interval, records a ``SCHEDULED_REFRESH`` request (the
    policy's reasons and cool-down apply). Then every accepted request that no
    Airflow run knows about yet (made through REST or Python, or the refreshes
    just recorded) is emitted as a retrain-request Asset event, once.
    ``interval_start``/``interval_end`` (ISO, UTC) override the data interval,
    for backfills and tests.
    """

    template_fields: Sequence[str] = ("interval_start", "interval_end")

    def __init__(
        self, *, interval_start: str | None = None, interval_end: str | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("outlets", [RETRAIN_REQUESTS_ALIAS])
        super().__init__(**kwargs)
        self.interval_start = interval_start
        self.interval_end = interval_end

    def _moment(self, value: str | None, fallback: Any, name: str) -> datetime:
        if value:
            try:
                moment = datetime.fromisoformat(str(value))
            except ValueError as exc:
                raise ValueError(f"{name}={value!r} is not valid; expected an ISO-8601 timestamp") from exc
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if fallback is None:
            raise ValueError(f"{name} is not set and the run has no data interval")
        return datetime.fromisoformat(str(fallback)) if isinstance(fallback, str) else fallback

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.retraining import mark_dispatched, undispatched_requests
        from airflow_mlops.services import request_due_refreshes

        apply_connections(self.log)
        start = self._moment(self.interval_start, context.get("data_interval_start"), "interval_start")
        end = self._moment(self.interval_end, context.get("data_interval_end"), "interval_end")
        refreshes = request_due_refreshes(start, end)
        emitted = []
        for request in undispatched_requests():
            context["outlet_events"][RETRAIN_REQUESTS_ALIAS].add(
                RETRAIN_REQUESTS, extra=retrain_event_extra(request.to_dict())
            )
            mark_dispatched(request.id)
            emitted.append(request.id)
            self.log.info(
                "emitted retrain request %s (%s, %s) for deployment %s",
                request.id,
                request.reason,
                request.origin,
                request.deployment_id,
            )
        return {"refreshes": refreshes, "emitted": emitted}
