"""Actuals: the outcomes a deployment's predictions are judged by, keyed by association id.

``submit_actuals`` (DataRobot's name and row shape) validates every row before
storing any of a batch, stores them in batches of ``batch_size``, and answers
how many were new, how many replaced a not-yet-joined actual, how many were
ignored because their id already has a joined actual (an accuracy bucket is
never rewritten), and how many name an association id no logged prediction
carries *yet*. Those are kept, not dropped: they join when their prediction is
folded, and until then every accuracy read reports them as pending.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from airflow_mlops.store import ActualRow, AssociationRow, session_scope

__all__ = ["pending_actuals", "submit_actuals"]

MAX_ASSOCIATION_ID = 128
_KEYS = ("association_id", "actual_value", "timestamp", "was_acted_on")


def _rows(data: pd.DataFrame | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(data, pd.DataFrame):
        return [dict(zip(data.columns, values, strict=True)) for values in data.itertuples(index=False)]
    if isinstance(data, str | bytes) or not isinstance(data, Iterable):
        raise TypeError(f"data must be a DataFrame or a list of mappings, got {type(data).__name__}")
    return list(data)


def _clean(row: Mapping[str, Any], index: int, target_type: str) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise ValueError(f"row {index}: expected a mapping with {list(_KEYS[:2])}, got {row!r}")
    unknown = sorted(set(row) - set(_KEYS))
    if unknown:
        raise ValueError(f"row {index}: unknown field(s) {unknown}; allowed: {list(_KEYS)}")
    aid = row.get("association_id")
    if aid is None or (isinstance(aid, float) and math.isnan(aid)) or str(aid) == "":
        raise ValueError(f"row {index}: association_id is required, got {aid!r}")
    aid_text = str(aid)
    if len(aid_text) > MAX_ASSOCIATION_ID or "\x00" in aid_text:
        raise ValueError(
            f"row {index}: association_id {aid_text[:40]!r}... must be at most {MAX_ASSOCIATION_ID} characters"
        )
    value = row.get("actual_value")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"row {index}: actual_value is required, got {value!r}")
    if target_type == "Regression":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise ValueError(
                f"row {index}: actual_value {value!r} is not valid for a regression deployment; expected a number"
            )
        text = repr(float(value))
    else:
        if not isinstance(value, str | numbers.Real):
            raise ValueError(f"row {index}: actual_value {value!r} must be a class label (text or number)")
        text = str(value)
    if len(text) > 256:
        raise ValueError(f"row {index}: actual_value is longer than 256 characters")
    stamp = row.get("timestamp")
    when: datetime | None = None
    if stamp is not None and not (isinstance(stamp, float) and math.isnan(stamp)):
        parsed = pd.to_datetime(stamp, errors="coerce", format="ISO8601") if isinstance(stamp, str) else stamp
        if not isinstance(parsed, datetime) or pd.isna(parsed):
            raise ValueError(f"row {index}: timestamp {stamp!r} is not a timestamp (ISO-8601 expected)")
        when = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)  # naive = UTC
        when = pd.Timestamp(when).to_pydatetime()
    acted = row.get("was_acted_on")
    if acted is not None and not isinstance(acted, bool):
        raise ValueError(f"row {index}: was_acted_on must be true, false or null, got {acted!r}")
    return {"association_id": aid_text, "actual_value": text, "timestamp": when, "was_acted_on": acted}


def submit_actuals(
    deployment_id: str,
    data: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    target_type: str,
    store_url: str,
    batch_size: int = 10_000,
) -> dict[str, int]:
    """Store actuals; returns ``{received, stored, replaced, ignored_already_joined, unknown_association_ids}``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 100_000:
        raise ValueError(f"batch_size={batch_size!r} is not valid; expected an integer from 1 to 100000")
    rows = [_clean(row, i, target_type) for i, row in enumerate(_rows(data))]
    if not rows:
        raise ValueError("data holds no actuals; expected at least one row")
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_id[row["association_id"]] = row  # the last of duplicates in one call wins
    result = {"received": len(rows), "stored": 0, "replaced": 0, "ignored_already_joined": 0}
    unknown = 0
    ids = list(by_id)
    now = datetime.now(UTC)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        with session_scope(store_url) as session:
            existing = {
                r.association_id: r
                for lo in range(0, len(chunk), 500)
                for r in session.scalars(
                    select(ActualRow).where(
                        ActualRow.deployment_id == deployment_id,
                        ActualRow.association_id.in_(chunk[lo : lo + 500]),
                    )
                )
            }
            known = {
                aid
                for lo in range(0, len(chunk), 500)
                for aid in session.scalars(
                    select(AssociationRow.association_id).where(
                        AssociationRow.deployment_id == deployment_id,
                        AssociationRow.association_id.in_(chunk[lo : lo + 500]),
                    )
                )
            }
            for aid in chunk:
                row = by_id[aid]
                unknown += aid not in known
                old = existing.get(aid)
                if old is None:
                    session.add(
                        ActualRow(deployment_id=deployment_id, received_at=now, matched_at=None, **row)
                    )
                    result["stored"] += 1
                elif old.matched_at is not None:
                    result["ignored_already_joined"] += 1
                else:
                    old.actual_value = row["actual_value"]
                    old.timestamp = row["timestamp"]
                    old.was_acted_on = row["was_acted_on"]
                    old.received_at = now
                    result["replaced"] += 1
    result["unknown_association_ids"] = unknown
    return result


def pending_actuals(deployment_id: str, *, store_url: str) -> int:
    """Actuals stored but not joined: their association id has no folded prediction (yet)."""
    with session_scope(store_url) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ActualRow)
                .where(ActualRow.deployment_id == deployment_id, ActualRow.matched_at.is_(None))
            )
            or 0
        )
