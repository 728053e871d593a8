"""Retraining requests: the record of every "please retrain" and what came of it.

A request is made by the monitor (a failing health), by the scheduled refresh,
or by a person. It is recorded *before* anything runs, and the policy is applied
at that moment: a reason the policy does not trigger on, or an automatic request
within the cool-down of an earlier accepted one, is stored as ``suppressed`` with
the reason, so the history explains why a failing deployment was not retrained.

Statuses and their order::

    requested -> running -> replaced | not_replaced | awaiting_approval | failed
    awaiting_approval -> replaced (approve_request) | rejected (reject_request)
    suppressed (final, at creation)

Times are the caller's ``requested_at`` (a monitoring pass's window end, a
schedule's firing time), not the wall clock, so cool-downs hold in backfills
and in simulated time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from airflow_mlops.config import get_settings
from airflow_mlops.durations import iso_duration
from airflow_mlops.enums import MODEL_REPLACEMENT_REASON, parse_enum
from airflow_mlops.errors import DeploymentNotFound
from airflow_mlops.store import DeploymentRow, RetrainingRequestRow, session_scope

__all__ = [
    "ORIGINS",
    "OUTCOMES",
    "STATUSES",
    "RequestStateError",
    "RetrainingRequest",
    "get_request",
    "list_requests",
    "mark_approved",
    "mark_dispatched",
    "mark_running",
    "record_outcome",
    "reject_request",
    "request_retraining",
    "requeue_request",
    "start_retraining_run",
    "undispatched_requests",
]

#: Who asked: a monitoring pass, the refresh schedule, a person.
ORIGINS = ("monitor", "schedule", "user")
#: Where a run can end (record_outcome).
OUTCOMES = ("replaced", "not_replaced", "awaiting_approval", "failed")
STATUSES = ("requested", "suppressed", "running", *OUTCOMES, "rejected")
#: Requests that count for the cool-down: every accepted one, whatever came of it
#: (a failed retrain must not be retried every hour either).
_COUNTS_FOR_COOL_DOWN = tuple(s for s in STATUSES if s != "suppressed")


class RequestStateError(ValueError):
    """An action that the request's current status does not allow (e.g. approving a replaced one)."""


@dataclass
class RetrainingRequest:
    id: str
    deployment_id: str
    reason: str
    origin: str
    evidence: dict[str, Any]
    requested_at: datetime
    status: str
    message: str
    actor: str | None = None
    dag_run_id: str | None = None
    champion_model_id: str | None = None
    challenger_model_id: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    decided_at: datetime | None = None

    @property
    def accepted(self) -> bool:
        return self.status != "suppressed"

    @classmethod
    def _from_row(cls, row: RetrainingRequestRow) -> RetrainingRequest:
        return cls(
            id=row.id,
            deployment_id=row.deployment_id,
            reason=row.reason,
            origin=row.origin,
            evidence=dict(row.evidence or {}),
            requested_at=row.requested_at,
            status=row.status,
            message=row.message,
            actor=row.actor,
            dag_run_id=row.dag_run_id,
            champion_model_id=row.champion_model_id,
            challenger_model_id=row.challenger_model_id,
            scores=dict(row.scores or {}),
            details=dict(row.details or {}),
            decided_at=row.decided_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (times as ISO strings): for XCom, REST and the demo's timeline."""
        return {
            "id": self.id,
            "deployment_id": self.deployment_id,
            "reason": self.reason,
            "origin": self.origin,
            "evidence": self.evidence,
            "requested_at": self.requested_at.isoformat(),
            "status": self.status,
            "message": self.message,
            "actor": self.actor,
            "dag_run_id": self.dag_run_id,
            "champion_model_id": self.champion_model_id,
            "challenger_model_id": self.challenger_model_id,
            "scores": self.scores,
            "details": self.details,
            "decided_at": None if self.decided_at is None else self.decided_at.isoformat(),
        }


def _url(store_url: str | None) -> str:
    return store_url or get_settings().store_url


def _utc(moment: datetime | None, name: str) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError(f"{name}={moment!r} is naive; pass a timezone-aware (UTC) datetime")
    return moment.astimezone(UTC)


def request_retraining(
    deployment_id: str,
    reason: str | MODEL_REPLACEMENT_REASON,
    *,
    evidence: dict[str, Any] | None = None,
    origin: str,
    requested_at: datetime | None = None,
    actor: str | None = None,
    store_url: str | None = None,
) -> RetrainingRequest:
    """Record a request, applying the deployment's policy; returns it ``requested`` or ``suppressed``.

    The deployment row is locked while deciding (``FOR UPDATE`` on PostgreSQL, the
    write lock taken up front on SQLite: a write session), so two monitors racing
    on the same deployment cannot both get past the cool-down.
    """
    from airflow_mlops.retraining.policy import RetrainingPolicy

    reason_value = parse_enum(MODEL_REPLACEMENT_REASON, reason, field="reason").value
    if origin not in ORIGINS:
        raise ValueError(f"origin={origin!r} is not valid; expected one of {list(ORIGINS)}")
    if evidence is not None and not isinstance(evidence, dict):
        raise ValueError(f"evidence must be a JSON object (dict), got {type(evidence).__name__}")
    at = _utc(requested_at, "requested_at")
    with session_scope(_url(store_url), write=True) as session:
        deployment = session.get(DeploymentRow, deployment_id, with_for_update=True)
        if deployment is None:
            raise DeploymentNotFound(f"no deployment with id {deployment_id!r}")
        policy = RetrainingPolicy.from_settings(deployment.settings)
        status, message = "requested", f"{reason_value} requested by {origin}"
        if reason_value not in policy.trigger_reasons:
            status = "suppressed"
            message = (
                f"suppressed: {reason_value} is not in the policy's trigger_reasons "
                f"{list(policy.trigger_reasons)}"
            )
        elif origin != "user":
            previous = session.scalars(
                select(RetrainingRequestRow)
                .where(
                    RetrainingRequestRow.deployment_id == deployment_id,
                    RetrainingRequestRow.status.in_(_COUNTS_FOR_COOL_DOWN),
                    RetrainingRequestRow.requested_at > at - policy.cool_down,
                    RetrainingRequestRow.requested_at < at + policy.cool_down,
                )
                .order_by(RetrainingRequestRow.requested_at.desc())
                .limit(1)
            ).first()
            if previous is not None:
                status = "suppressed"
                message = (
                    f"suppressed: within the cool-down ({iso_duration(policy.cool_down)}) of request "
                    f"{previous.id} ({previous.reason}, {previous.requested_at.isoformat()}, {previous.status})"
                )
        row = RetrainingRequestRow(
            id=uuid.uuid4().hex,
            deployment_id=deployment_id,
            reason=reason_value,
            origin=origin,
            evidence=evidence or {},
            requested_at=at,
            created_at=datetime.now(UTC),
            status=status,
            message=message,
            actor=actor,
            scores={},
            details={},
            decided_at=at if status == "suppressed" else None,
        )
        session.add(row)
        session.flush()
        return RetrainingRequest._from_row(row)


def get_request(request_id: str, *, store_url: str | None = None) -> RetrainingRequest:
    with session_scope(_url(store_url)) as session:
        row = session.get(RetrainingRequestRow, request_id)
        if row is None:
            raise LookupError(f"no retraining request with id {request_id!r}")
        return RetrainingRequest._from_row(row)


def list_requests(
    deployment_id: str, *, status: str | None = None, store_url: str | None = None
) -> list[RetrainingRequest]:
    """A deployment's requests, newest first."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status={status!r} is not valid; expected one of {list(STATUSES)}")
    query = select(RetrainingRequestRow).where(RetrainingRequestRow.deployment_id == deployment_id)
    if status is not None:
        query = query.where(RetrainingRequestRow.status == status)
    query = query.order_by(RetrainingRequestRow.requested_at.desc(), RetrainingRequestRow.created_at.desc())
    with session_scope(_url(store_url)) as session:
        return [RetrainingRequest._from_row(r) for r in session.scalars(query)]


def _transition(session: Any, request_id: str, allowed: tuple[str, ...], action: str) -> RetrainingRequestRow:
    row = session.get(RetrainingRequestRow, request_id, with_for_update=True)
    if row is None:
        raise LookupError(f"no retraining request with id {request_id!r}")
    if row.status not in allowed:
        raise RequestStateError(
            f"cannot {action} request {request_id}: its status is {row.status!r}; "
            f"{action} needs one of {list(allowed)}"
        )
    return row


def mark_dispatched(request_id: str, *, store_url: str | None = None) -> None:
    """Note that the request was handed to Airflow (an Asset event was emitted for it).

    A request made outside Airflow (REST, the Python API) waits, undispatched,
    until ``mlops_refresh`` emits its event; nothing is emitted twice.
    """
    with session_scope(_url(store_url), write=True) as session:
        row = session.get(RetrainingRequestRow, request_id, with_for_update=True)
        if row is None:
            raise LookupError(f"no retraining request with id {request_id!r}")
        row.details = {**(row.details or {}), "dispatched_at": datetime.now(UTC).isoformat()}


def requeue_request(request_id: str, *, store_url: str | None = None) -> bool:
    """Clear the dispatch mark of a request still waiting, so ``mlops_refresh`` emits it again.

    An Asset-scheduled run may be created for several events at once; it works
    on one request and hands the others back this way instead of dropping them.
    Returns whether the request was waiting (and is now queued again).
    """
    with session_scope(_url(store_url), write=True) as session:
        row = session.get(RetrainingRequestRow, request_id, with_for_update=True)
        if row is None or row.status != "requested":
            return False
        row.details = {k: v for k, v in (row.details or {}).items() if k != "dispatched_at"}
        return True


def start_retraining_run(
    *,
    dag_run_id: str,
    request_id: str | None = None,
    deployment_id: str | None = None,
    reason: str | None = None,
    note: str | None = None,
    evidence: dict[str, Any] | None = None,
    event_extras: list[dict[str, Any]] | None = None,
    actor: str | None = None,
    store_url: str | None = None,
) -> RetrainingRequest:
    """The request a retraining run works on, marked ``running`` by it.

    In order of precedence: ``request_id`` (a recorded request, e.g. from an
    event's extra), ``deployment_id`` (a person's request made now, with
    ``reason``, default OTHER, and ``note``), else the first of ``event_extras``
    (the triggering retrain-request events) whose request still waits; the
    other waiting ones are handed back to ``mlops_refresh``
    (:func:`requeue_request`). A person's request that the policy suppresses
    is refused with the policy's reason.
    """
    url = _url(store_url)
    if request_id:
        request = get_request(request_id, store_url=url)
    elif deployment_id:
        details = {**(evidence or {}), **({"note": note} if note else {})}
        request = request_retraining(
            deployment_id,
            reason or MODEL_REPLACEMENT_REASON.OTHER.value,
            evidence=details,
            origin="user",
            actor=actor,
            store_url=url,
        )
        if request.status == "suppressed":
            raise RequestStateError(f"deployment {deployment_id}: {request.message}")
    else:
        waiting = []
        for extra in event_extras or []:
            if "request_id" not in extra:
                raise ValueError(f"retrain-request event extra {extra!r} has no request_id")
            candidate = get_request(str(extra["request_id"]), store_url=url)
            if candidate.status == "requested":
                waiting.append(candidate)
        if not waiting:
            raise ValueError(
                "nothing to retrain: no request_id or deployment_id param, and no triggering "
                f"retrain-request event whose request still waits (events: {event_extras or []})"
            )
        request = waiting[0]
        for other in waiting[1:]:
            requeue_request(other.id, store_url=url)
    return mark_running(request.id, dag_run_id=dag_run_id, store_url=url)


def undispatched_requests(*, store_url: str | None = None) -> list[RetrainingRequest]:
    """Accepted requests no Airflow run has been told about yet, oldest first."""
    query = (
        select(RetrainingRequestRow)
        .where(RetrainingRequestRow.status == "requested")
        .order_by(RetrainingRequestRow.requested_at)
    )
    with session_scope(_url(store_url)) as session:
        rows = [RetrainingRequest._from_row(r) for r in session.scalars(query)]
    return [r for r in rows if "dispatched_at" not in r.details]


def mark_running(request_id: str, *, dag_run_id: str, store_url: str | None = None) -> RetrainingRequest:
    """The DAG run that now works on the request (a retried run of the same id may mark it again)."""
    with session_scope(_url(store_url), write=True) as session:
        row = _transition(session, request_id, ("requested", "running"), "start")
        if row.status == "running" and row.dag_run_id not in (None, dag_run_id):
            raise RequestStateError(
                f"request {request_id} is already being worked on by DAG run {row.dag_run_id!r}"
            )
        row.status = "running"
        row.dag_run_id = dag_run_id
        row.message = f"{row.reason}: retraining in DAG run {dag_run_id}"
        session.flush()
        return RetrainingRequest._from_row(row)


def record_outcome(
    request_id: str,
    *,
    status: str,
    message: str,
    champion_model_id: str | None = None,
    challenger_model_id: str | None = None,
    scores: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    decided_at: datetime | None = None,
    store_url: str | None = None,
) -> RetrainingRequest:
    """How the run ended, with both models' scores, so the history can say why."""
    if status not in OUTCOMES:
        raise ValueError(f"status={status!r} is not valid; expected one of {list(OUTCOMES)}")
    with session_scope(_url(store_url), write=True) as session:
        row = _transition(session, request_id, ("requested", "running"), f"record {status!r} for")
        row.status = status
        row.message = message
        row.champion_model_id = champion_model_id or row.champion_model_id
        row.challenger_model_id = challenger_model_id or row.challenger_model_id
        row.scores = dict(scores or row.scores or {})
        row.details = {**(row.details or {}), **(details or {})}
        row.decided_at = _utc(decided_at, "decided_at")
        session.flush()
        return RetrainingRequest._from_row(row)


def mark_approved(
    request_id: str, *, actor: str, champion_model_id: str, store_url: str | None = None
) -> RetrainingRequest:
    """Record that a person approved the challenger, once it is in place (see ``services.approval``)."""
    with session_scope(_url(store_url), write=True) as session:
        row = _transition(session, request_id, ("awaiting_approval",), "approve")
        row.status = "replaced"
        row.actor = actor
        row.message = f"approved by {actor}: {champion_model_id} -> {row.challenger_model_id} ({row.reason})"
        row.decided_at = datetime.now(UTC)
        session.flush()
        return RetrainingRequest._from_row(row)


def reject_request(
    request_id: str, *, actor: str, note: str | None = None, store_url: str | None = None
) -> RetrainingRequest:
    """Keep the champion; the challenger stays registered, the rejection in the history."""
    with session_scope(_url(store_url), write=True) as session:
        row = _transition(session, request_id, ("awaiting_approval",), "reject")
        row.status = "rejected"
        row.actor = actor
        row.message = f"rejected by {actor}" + (f": {note}" if note else "")
        row.decided_at = datetime.now(UTC)
        session.flush()
        return RetrainingRequest._from_row(row)
