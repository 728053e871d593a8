"""Hourly fairness buckets: what the fold adds per protected group, what joined actuals add, what a window sums.

Per (deployment, model version, hour, protected feature, group) one
``fairness_hours`` row (:class:`~airflow_mlops.store.FairnessHourRow`) counts the
predictions and those scored positive (``>= 0.5``, as accuracy does), and, as
actuals are joined, the confusion counts and the positive score summed per actual
class. Everything is counted against the model's positive class, so the
favourable class can be changed afterwards (:meth:`.GroupCounts.favourable`).
A window sums its hours with one grouped query: its cost depends on the hours,
features and groups, never on the traffic.

Which features are protected is read at fold time: predictions folded before a
feature was protected are not in its buckets (documented). A group is the
feature's value as text (``(missing)`` for a null); a batch with more than
:data:`MAX_GROUPS` values of one feature counts its rarest values as ``(other)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airflow_mlops.monitoring.fairness import GroupCounts, is_label
from airflow_mlops.store import FairnessHourRow, session_scope

__all__ = [
    "MAX_GROUPS",
    "MISSING",
    "OTHER",
    "FairnessDeltas",
    "add_fairness",
    "add_joined",
    "count_groups",
    "group_labels",
    "hourly_group_counts",
    "window_group_counts",
]

MAX_GROUPS = 100
MISSING = "(missing)"
OTHER = "(other)"
_COUNT_FIELDS = tuple(f.name for f in fields(GroupCounts))

#: (model version, hour, feature, group) → counts to add.
FairnessDeltas = dict[tuple[str, datetime, str, str], GroupCounts]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:256]


def group_labels(part: pa.RecordBatch, feature: str, prefix: str) -> list[str]:
    """Each row's group for ``feature`` (a missing column: every row ``(missing)``), rarest capped to ``(other)``."""
    name = prefix + feature
    if name not in part.schema.names:
        return [MISSING] * part.num_rows
    labels = [_text(v) for v in part.column(name).to_pylist()]
    counts = pd.Series(labels).value_counts()
    if len(counts) > MAX_GROUPS:
        kept = set(counts.index[:MAX_GROUPS])
        labels = [label if label in kept else OTHER for label in labels]
    return labels


def count_groups(
    labels: Mapping[str, list[str]], scores: np.ndarray, version: str, hour: datetime, into: FairnessDeltas
) -> None:
    """Add each group's predictions and positive-scored predictions (rows with a non-finite score skipped)."""
    finite = np.isfinite(scores)
    positive = finite & (np.nan_to_num(scores, nan=0.0) >= 0.5)
    for feature, rows in labels.items():
        frame = pd.DataFrame({"g": rows, "n": finite.astype(np.int64), "p": positive.astype(np.int64)})
        for group, (n, p) in frame.groupby("g", sort=False)[["n", "p"]].sum().iterrows():
            if not n:
                continue
            counts = into.setdefault((version, hour, feature, str(group)), GroupCounts())
            counts.predictions += int(n)
            counts.predicted_positive += int(p)


def add_joined(
    into: FairnessDeltas,
    version: str,
    hour: datetime,
    groups: Mapping[str, str],
    prediction: str,
    actual: str,
    positive: str | None,
) -> None:
    """One joined (prediction, actual) pair into its groups' confusion counts (a non-numeric score is skipped)."""
    try:
        score = float(prediction)
    except ValueError:
        return
    if not math.isfinite(score):
        return
    actual_positive = is_label(actual, positive)
    predicted_positive = score >= 0.5
    for feature, group in groups.items():
        counts = into.setdefault((version, hour, feature, group), GroupCounts())
        if actual_positive:
            counts.score_actual_positive += score
            if predicted_positive:
                counts.true_positive += 1
            else:
                counts.false_negative += 1
        else:
            counts.score_actual_negative += score
            if predicted_positive:
                counts.false_positive += 1
            else:
                counts.true_negative += 1


def add_fairness(session: Session, deployment_id: str, deltas: FairnessDeltas) -> None:
    """Add counts to their rows inside the caller's write transaction (rows read ``FOR UPDATE``)."""
    for (version, hour, feature, group), delta in deltas.items():
        row = session.execute(
            select(FairnessHourRow)
            .where(
                FairnessHourRow.deployment_id == deployment_id,
                FairnessHourRow.model_version == version,
                FairnessHourRow.hour == hour,
                FairnessHourRow.feature == feature,
                FairnessHourRow.group_value == group,
            )
            .with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = FairnessHourRow(
                deployment_id=deployment_id,
                model_version=version,
                hour=hour,
                feature=feature,
                group_value=group,
                **{name: 0 for name in _COUNT_FIELDS},
            )
            session.add(row)
        for name in _COUNT_FIELDS:
            setattr(row, name, (getattr(row, name) or 0) + getattr(delta, name))
        session.flush()


def _counts(values: Iterable[Any]) -> GroupCounts:
    return GroupCounts(
        *(type(getattr(GroupCounts(), name))(v or 0) for name, v in zip(_COUNT_FIELDS, values, strict=True))
    )


def window_group_counts(
    store_url: str,
    deployment_id: str,
    start: datetime,
    end: datetime,
    *,
    version: str | None = None,
    features: Iterable[str] | None = None,
) -> dict[str, dict[str, GroupCounts]]:
    """Summed counts per feature and group over hours ``start <= hour < end`` (one grouped query)."""
    return {
        feature: {group: counts for (_hour, group), counts in groups.items()}
        for feature, groups in _grouped(
            store_url, deployment_id, start, end, version, features, False
        ).items()
    }


def hourly_group_counts(
    store_url: str,
    deployment_id: str,
    start: datetime,
    end: datetime,
    *,
    version: str | None = None,
    features: Iterable[str] | None = None,
) -> dict[str, dict[tuple[datetime | None, str], GroupCounts]]:
    """Counts per feature and (hour, group), summed over model versions: for reads over time."""
    return _grouped(store_url, deployment_id, start, end, version, features, True)


def _grouped(
    store_url: str,
    deployment_id: str,
    start: datetime,
    end: datetime,
    version: str | None,
    features: Iterable[str] | None,
    by_hour: bool,
) -> dict[str, dict[tuple[datetime | None, str], GroupCounts]]:
    sums = [func.sum(getattr(FairnessHourRow, name)) for name in _COUNT_FIELDS]
    keys = [
        FairnessHourRow.feature,
        FairnessHourRow.group_value,
        *([FairnessHourRow.hour] if by_hour else []),
    ]
    query = (
        select(*keys, *sums)
        .where(
            FairnessHourRow.deployment_id == deployment_id,
            FairnessHourRow.hour >= start,
            FairnessHourRow.hour < end,
        )
        .group_by(*keys)
    )
    if version is not None:
        query = query.where(FairnessHourRow.model_version == version)
    if features is not None:
        query = query.where(FairnessHourRow.feature.in_(list(features)))
    out: dict[str, dict[tuple[datetime | None, str], GroupCounts]] = {}
    with session_scope(store_url) as session:
        for row in session.execute(query):
            feature, group = str(row[0]), str(row[1])
            hour = row[2] if by_hour and isinstance(row[2], datetime) else None
            values = row[3:] if by_hour else row[2:]
            if hour is not None and hour.tzinfo is None:
                hour = hour.replace(tzinfo=UTC)
            out.setdefault(feature, {})[(hour, group)] = _counts(values)
    return out
