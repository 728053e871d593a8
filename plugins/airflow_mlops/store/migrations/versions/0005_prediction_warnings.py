"""prediction warnings per hour (humility stats)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service_buckets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warned_rows", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("outlier_predictions", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("service_buckets", schema=None) as batch_op:
        batch_op.drop_column("outlier_predictions")
        batch_op.drop_column("warned_rows")
