"""The MLOps store's tables: deployments, their model history, baselines, buckets and health.

Alembic migrations under ``migrations/`` create exactly these tables; a test
checks that the migrated schema and these definitions agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Always UTC-aware in Python, whatever the database keeps (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the MLOps store; pass a UTC-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class DeploymentRow(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(512))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    importance: Mapped[str | None] = mapped_column(String(16), nullable=True)
    registered_model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[str] = mapped_column(String(64))
    target_name: Mapped[str] = mapped_column(String(256))
    target_type: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModelHistoryRow(Base):
    __tablename__ = "model_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    old_model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    new_model_version: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BaselineRow(Base):
    __tablename__ = "baselines"

    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FoldedFileRow(Base):
    """A prediction-log file already folded into buckets: what makes folding idempotent.

    ``stage`` is the file's place in the log's lifecycle (``monitoring/compaction.py``):
    ``part`` (folded, waiting to be compacted), ``compacted`` (its hour's compacted
    file, or a lone part that needed no rewrite) or ``superseded`` (rewritten into
    ``compacted_into``; the file is being deleted). The indexes serve the lifecycle's
    queries without reading the marks of past hours: parts awaiting compaction by
    hour, and the marks of hours past retention.
    """

    __tablename__ = "folded_files"
    __table_args__ = (
        Index("ix_folded_files_stage_hour", "deployment_id", "stage", "hour"),
        Index("ix_folded_files_hour", "deployment_id", "hour"),
    )

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    folded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Added by migration 0007. ``hour`` is the file's partition (null only for a legacy
    # path without an ``hour=`` part, which the lifecycle then leaves alone).
    hour: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stage: Mapped[str] = mapped_column(String(16), default="part", server_default="part")
    compacted_into: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class FoldStateRow(Base):
    """Per deployment: when the one-off full scan of its log finished (see ``monitoring/inbox.py``).

    Without this row the next fold lists every hour of the log once (a first pass,
    or a log written before writers dropped inbox markers); with it, a fold lists
    only the deployment's inbox.
    """

    __tablename__ = "fold_state"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    full_scan_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServiceBucketRow(Base):
    """Per-hour request counts and latency sums for one deployment and model version."""

    __tablename__ = "service_buckets"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    predictions: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    # Added by migration 0003 (see monitoring/service.py for what each one means).
    requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    user_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    server_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    slow_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cache_hits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cache_lookups: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Rows scored with prediction warnings on (a regression deployment), and those flagged outliers.
    warned_rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    outlier_predictions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Per-request response-time counts over the fixed log-spaced bins of ``LATENCY_EDGES_MS``.
    response_hist: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    #: The same for model execution time (``execution_ms`` in the log, else the response time).
    execution_hist: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    #: Requests started in each minute of the hour (60 counts): median and peak load.
    per_minute: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    #: Distinct callers seen this hour (sorted, capped); null when the log names none.
    consumers: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class DriftHourRow(Base):
    """One hour's drift counts for one deployment and model version: every feature in one blob.

    ``counts`` packs each feature's vector over its baseline bins (the target drift uses the
    prediction's name) back to back, ``width`` bytes per count; ``layout`` is the JSON
    ``[[name, n_bins], ...]`` in blob order (see :mod:`airflow_mlops.store.drift_counts`).
    """

    __tablename__ = "drift_hours"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    layout: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    counts: Mapped[bytes] = mapped_column(LargeBinary)


class DriftDayRow(Base):
    """The sum of a UTC day's :class:`DriftHourRow` rows, kept by the fold in the same transaction.

    A window reads whole days from here and only its edge hours from ``drift_hours``,
    so a 90-day query reads ~90 rows, not 2 160.
    """

    __tablename__ = "drift_days"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    layout: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    counts: Mapped[bytes] = mapped_column(LargeBinary)


class ActualRow(Base):
    """An actual outcome for one association id; ``matched_at`` says it is in an accuracy bucket."""

    __tablename__ = "actuals"
    #: Serves ``join_actuals`` and its pending count: a deployment's unmatched actuals (0007).
    __table_args__ = (Index("ix_actuals_deployment_matched", "deployment_id", "matched_at"),)

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    association_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    actual_value: Mapped[str] = mapped_column(String(256))
    timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    was_acted_on: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class AssociationRow(Base):
    """A logged prediction that carried an association id: what actuals are joined to."""

    __tablename__ = "prediction_associations"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    association_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64))
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    prediction: Mapped[str] = mapped_column(String(256))
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The prediction's group per protected feature (``{feature: group}``) when fairness was set
    #: at fold time, so the actual's confusion counts land in the right fairness buckets (0010).
    groups: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)


class AccuracyBucketRow(Base):
    """Per-hour (prediction, actual) pairs joined by association id, bounded per hour."""

    __tablename__ = "accuracy_buckets"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    #: Pairs joined this hour, including those beyond the per-hour cap.
    joined: Mapped[int] = mapped_column(Integer, default=0)
    predictions: Mapped[list[str]] = mapped_column(JSON)
    actuals: Mapped[list[str]] = mapped_column(JSON)


class FairnessHourRow(Base):
    """One hour's counts for one protected feature's group (``monitoring/fairness_buckets.py``).

    Counted against the model's positive class (its last class), so the favourable
    class can change afterwards: the favourable counts of the other class are the
    complements. ``predicted_positive`` counts scores ``>= 0.5``; the confusion counts
    and score sums come from joined actuals.
    """

    __tablename__ = "fairness_hours"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    feature: Mapped[str] = mapped_column(String(256), primary_key=True)
    group_value: Mapped[str] = mapped_column(String(256), primary_key=True)
    predictions: Mapped[int] = mapped_column(Integer, default=0)
    predicted_positive: Mapped[int] = mapped_column(Integer, default=0)
    true_positive: Mapped[int] = mapped_column(Integer, default=0)
    false_positive: Mapped[int] = mapped_column(Integer, default=0)
    false_negative: Mapped[int] = mapped_column(Integer, default=0)
    true_negative: Mapped[int] = mapped_column(Integer, default=0)
    #: Sums of the positive class's score over joined rows whose actual is positive / negative.
    score_actual_positive: Mapped[float] = mapped_column(Float, default=0.0)
    score_actual_negative: Mapped[float] = mapped_column(Float, default=0.0)


class HealthRow(Base):
    """One health verdict per monitoring run and kind, so health has a history."""

    __tablename__ = "health_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiTokenRow(Base):
    """An API token: only its SHA-256 is kept; the token itself is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(String(256), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeploymentRoleRow(Base):
    """Who may do what with a deployment: OWNER, USER or CONSUMER."""

    __tablename__ = "deployment_roles"

    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[str] = mapped_column(String(256), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))


class AuthEpochRow(Base):
    """One row whose counter goes up with every change to tokens or roles.

    Each prediction-server worker caches verified tokens and roles and polls this
    counter (a primary-key read) instead of looking every request's token up; a
    new value drops what it cached (see :mod:`airflow_mlops.security.auth_cache`).
    """

    __tablename__ = "auth_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)


class AuditRow(Base):
    """Append-only record of every change to a deployment (kept after the deployment is deleted)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class RetrainingRequestRow(Base):
    """A request to retrain a deployment's model, and what came of it (the retraining history).

    Every request is kept, also the ones a policy suppressed, so the history
    says why a failing deployment was *not* retrained (cool-down, reason off).
    """

    __tablename__ = "retraining_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str | None] = mapped_column(String(256), nullable=True)
    dag_run_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    champion_model_id: Mapped[str | None] = mapped_column(String(320), nullable=True)
    challenger_model_id: Mapped[str | None] = mapped_column(String(320), nullable=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ProjectRow(Base):
    """A DataRobot-style AutoML project: an uploaded dataset, then a target and a sweep over it.

    ``status`` follows the sweep: ``created`` (data uploaded, no target yet) →
    ``queued`` (target set, snapshot taken, runner asked) → ``running`` →
    ``done`` or ``failed`` (``error`` says why). The sweep's MLflow parent run
    (``parent_run_id``) holds the leaderboard the project's models come from.
    """

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str] = mapped_column(String(256), index=True)
    file_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    source: Mapped[str] = mapped_column(Text)
    dataset: Mapped[str] = mapped_column(String(256))
    columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="created")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metric: Mapped[str | None] = mapped_column(String(64), nullable=True)
    snapshot_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sweep: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    runner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(256), nullable=True)
    parent_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
