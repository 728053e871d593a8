"""auth epoch: a counter that every token revocation and role change moves

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09

Prediction-server workers cache verified tokens and roles and poll this one row
to learn, within a second, that something they cached may no longer hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "auth_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    op.drop_table("auth_epoch")
