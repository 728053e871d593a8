"""prediction log lifecycle: fold state, marks' hour and stage, the pending-actuals index

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-10

``folded_files`` gains the file's hour partition, its lifecycle stage (part,
compacted, superseded) and what it was compacted into, indexed so compaction and
retention query only the hours they work on; existing marks get their hour from
their path and stay ``part`` (the next passes compact them). ``fold_state`` records
each deployment's one-off full scan (none yet: the first fold after this migration
scans once). ``actuals`` gets (deployment_id, matched_at) for ``join_actuals``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_HOUR = re.compile(r"(?:^|/)hour=(\d{8}T\d{2})/")


def upgrade() -> None:
    op.create_table(
        "fold_state",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("full_scan_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id"),
    )
    with op.batch_alter_table("folded_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hour", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("stage", sa.String(length=16), server_default="part", nullable=False))
        batch_op.add_column(sa.Column("compacted_into", sa.String(length=1024), nullable=True))
        batch_op.create_index("ix_folded_files_stage_hour", ["deployment_id", "stage", "hour"], unique=False)
        batch_op.create_index("ix_folded_files_hour", ["deployment_id", "hour"], unique=False)
    with op.batch_alter_table("actuals", schema=None) as batch_op:
        batch_op.create_index("ix_actuals_deployment_matched", ["deployment_id", "matched_at"], unique=False)
    _fill_hours()


def _fill_hours() -> None:
    """Each existing mark's hour, parsed from its path (``deployment=…/hour=YYYYMMDDTHH/part-…``)."""
    marks = sa.table(
        "folded_files",
        sa.column("deployment_id", sa.String()),
        sa.column("path", sa.String()),
        sa.column("hour", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(marks.c.deployment_id, marks.c.path)).all()
    for deployment_id, path in rows:
        match = _HOUR.search(path)
        if match is None:
            continue
        hour = datetime.strptime(match.group(1), "%Y%m%dT%H").replace(tzinfo=UTC)
        bind.execute(
            marks.update()
            .where(marks.c.deployment_id == deployment_id, marks.c.path == path)
            .values(hour=hour)
        )


def downgrade() -> None:
    with op.batch_alter_table("actuals", schema=None) as batch_op:
        batch_op.drop_index("ix_actuals_deployment_matched")
    with op.batch_alter_table("folded_files", schema=None) as batch_op:
        batch_op.drop_index("ix_folded_files_hour")
        batch_op.drop_index("ix_folded_files_stage_hour")
        batch_op.drop_column("compacted_into")
        batch_op.drop_column("stage")
        batch_op.drop_column("hour")
    op.drop_table("fold_state")
