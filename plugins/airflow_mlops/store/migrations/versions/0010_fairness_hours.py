"""fairness: hourly counts per protected feature and group; groups on indexed predictions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

``fairness_hours`` holds, per deployment, model version, hour, protected feature
and group, the prediction counts and (from joined actuals) the confusion counts
fairness metrics are computed from. ``prediction_associations.groups`` keeps a
prediction's groups so that an actual arriving later is counted in them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COUNTS = (
    "predictions",
    "predicted_positive",
    "true_positive",
    "false_positive",
    "false_negative",
    "true_negative",
)


def upgrade() -> None:
    op.create_table(
        "fairness_hours",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feature", sa.String(length=256), nullable=False),
        sa.Column("group_value", sa.String(length=256), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("score_actual_positive", sa.Float(), nullable=False),
        sa.Column("score_actual_negative", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "model_version", "hour", "feature", "group_value"),
    )
    with op.batch_alter_table("prediction_associations") as batch:
        batch.add_column(sa.Column("groups", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prediction_associations") as batch:
        batch.drop_column("groups")
    op.drop_table("fairness_hours")
