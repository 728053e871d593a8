"""Join actuals to their predictions: each into its prediction's hour (accuracy pairs, fairness confusion counts).

An actual waits (``matched_at`` null) until the fold has indexed its association
id; then :func:`join_actuals` moves it, with the prediction's model version,
hour and (when fairness was on at fold time) protected groups, into that hour's
accuracy pairs and fairness counts, and marks both sides in the same transaction,
so a re-run joins nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from airflow_mlops.monitoring.fairness_buckets import FairnessDeltas, add_fairness, add_joined
from airflow_mlops.store import AccuracyBucketRow, ActualRow, AssociationRow, BaselineRow, session_scope

__all__ = ["JOIN_CHUNK", "MAX_PAIRS_PER_HOUR", "JoinSummary", "join_actuals"]

#: (prediction, actual) pairs kept per deployment, model version and hour. Pairs
#: beyond it still count in ``joined`` but not in accuracy (documented limit).
MAX_PAIRS_PER_HOUR = 100_000
#: Actuals joined per transaction.
JOIN_CHUNK = 20_000


@dataclass
class JoinSummary:
    joined: int = 0
    pending: int = 0


def join_actuals(deployment_id: str, *, store_url: str) -> JoinSummary:
    """Move every actual whose prediction is known into that prediction's accuracy bucket.

    Each chunk's bucket updates and its ``matched_at`` marks commit together, so a
    re-run joins nothing twice; an actual whose association id has no prediction
    yet stays pending (counted, reported) and is joined when the prediction folds.
    """
    summary = JoinSummary()
    with session_scope(store_url) as session:
        positives = {
            row.model_version: (row.baseline or {}).get("positive_class")
            for row in session.scalars(select(BaselineRow).where(BaselineRow.deployment_id == deployment_id))
        }
    while True:
        with session_scope(store_url) as session:
            pairs = session.execute(
                select(ActualRow, AssociationRow)
                .join(
                    AssociationRow,
                    (AssociationRow.deployment_id == ActualRow.deployment_id)
                    & (AssociationRow.association_id == ActualRow.association_id),
                )
                .where(ActualRow.deployment_id == deployment_id, ActualRow.matched_at.is_(None))
                .limit(JOIN_CHUNK)
            ).all()
            if not pairs:
                break
            now = datetime.now(UTC)
            grouped: dict[tuple[str, datetime], list[tuple[str, str]]] = {}
            fairness: FairnessDeltas = {}
            for actual, association in pairs:
                grouped.setdefault((association.model_version, association.hour), []).append(
                    (association.prediction, actual.actual_value)
                )
                if association.groups:
                    positive = positives.get(association.model_version)
                    add_joined(
                        fairness,
                        association.model_version,
                        association.hour,
                        association.groups,
                        association.prediction,
                        actual.actual_value,
                        None if positive is None else str(positive),
                    )
                actual.matched_at = now
                association.matched = True
            for (version, hour), items in grouped.items():
                bucket = session.get(AccuracyBucketRow, (deployment_id, version, hour))
                if bucket is None:
                    bucket = AccuracyBucketRow(
                        deployment_id=deployment_id,
                        model_version=version,
                        hour=hour,
                        joined=0,
                        predictions=[],
                        actuals=[],
                    )
                    session.add(bucket)
                room = max(0, MAX_PAIRS_PER_HOUR - len(bucket.predictions))
                kept = items[:room]
                bucket.predictions = [*bucket.predictions, *(p for p, _ in kept)]
                bucket.actuals = [*bucket.actuals, *(a for _, a in kept)]
                bucket.joined = (bucket.joined or 0) + len(items)
            add_fairness(session, deployment_id, fairness)
            summary.joined += len(pairs)
    with session_scope(store_url) as session:
        # A COUNT over the (deployment_id, matched_at) index: no ids are loaded.
        summary.pending = (
            session.scalar(
                select(func.count())
                .select_from(ActualRow)
                .where(ActualRow.deployment_id == deployment_id, ActualRow.matched_at.is_(None))
            )
            or 0
        )
    return summary
