"""The auth epoch: one counter that moves whenever a token or a role changes.

Writers call :func:`bump_auth_epoch` inside the transaction that makes the change,
so the new value becomes visible exactly when the change does. Readers (each
prediction-server worker) poll :func:`read_auth_epoch`, a primary-key read of
one row, and drop what they cached when it moves. One global counter rather
than one per token or deployment: changes are rare (people revoke tokens and
share deployments by hand), and a single cheap read covers every cached entry.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from airflow_mlops.store.engine import session_scope
from airflow_mlops.store.tables import AuthEpochRow

_ROW_ID = 1


def bump_auth_epoch(session: Session) -> None:
    """Move the counter in ``session``'s transaction (the change and the bump commit together)."""
    moved = session.execute(
        update(AuthEpochRow).where(AuthEpochRow.id == _ROW_ID).values(epoch=AuthEpochRow.epoch + 1)
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]  # a store created before the row existed
        session.add(AuthEpochRow(id=_ROW_ID, epoch=1))


def read_auth_epoch(store_url: str) -> int:
    """The counter's value now (0 where no change was ever made)."""
    with session_scope(store_url) as session:
        value = session.scalar(select(AuthEpochRow.epoch).where(AuthEpochRow.id == _ROW_ID))
    return int(value or 0)
