"""monitoring state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accuracy_buckets",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("joined", sa.Integer(), nullable=False),
        sa.Column("predictions", sa.JSON(), nullable=False),
        sa.Column("actuals", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "model_version", "hour"),
    )
    op.create_table(
        "actuals",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("association_id", sa.String(length=128), nullable=False),
        sa.Column("actual_value", sa.String(length=256), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("was_acted_on", sa.Boolean(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("deployment_id", "association_id"),
    )
    with op.batch_alter_table("actuals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_actuals_matched_at"), ["matched_at"], unique=False)

    op.create_table(
        "prediction_associations",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("association_id", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prediction", sa.String(length=256), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "association_id"),
    )
    with op.batch_alter_table("service_buckets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requests", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("user_errors", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("server_errors", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("slow_requests", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("cache_hits", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("cache_lookups", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("response_hist", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("execution_hist", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("per_minute", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("consumers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_buckets", schema=None) as batch_op:
        batch_op.drop_column("consumers")
        batch_op.drop_column("per_minute")
        batch_op.drop_column("execution_hist")
        batch_op.drop_column("response_hist")
        batch_op.drop_column("cache_lookups")
        batch_op.drop_column("cache_hits")
        batch_op.drop_column("slow_requests")
        batch_op.drop_column("server_errors")
        batch_op.drop_column("user_errors")
        batch_op.drop_column("requests")

    op.drop_table("prediction_associations")
    with op.batch_alter_table("actuals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actuals_matched_at"))

    op.drop_table("actuals")
    op.drop_table("accuracy_buckets")
