"""Target and feature drift of a window, or over time, from the baseline's bins and hourly counts."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Text, select, type_coerce

from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.drift import drift_score, get_drift_metric
from airflow_mlops.monitoring.drift_rule import FeatureVerdict, judge_features
from airflow_mlops.monitoring.health_settings import DriftHealthSettings
from airflow_mlops.monitoring.reads.window import (
    OverTime,
    bucket_bounds,
    bucket_index,
    period_of,
    resolve_window,
)
from airflow_mlops.store import (
    BaselineRow,
    DriftBucketRow,
    session_scope,
)


def load_baseline(store_url: str, deployment_id: str, version: str) -> Baseline | None:
    with session_scope(store_url) as session:
        row = session.get(BaselineRow, (deployment_id, version))
        return None if row is None else Baseline.from_dict(row.baseline)


def _drift_rows(
    store_url: str,
    deployment_id: str,
    version: str,
    start: datetime,
    end: datetime,
    features: list[str] | None = None,
) -> list[tuple[datetime, str, list[int]]]:
    # The counts come back as their JSON text and are parsed in one json.loads: per-row
    # decoding by the JSON column type was most of a 7-day query's time.
    query = select(
        DriftBucketRow.hour, DriftBucketRow.feature, type_coerce(DriftBucketRow.counts, Text)
    ).where(
        DriftBucketRow.deployment_id == deployment_id,
        DriftBucketRow.model_version == version,
        DriftBucketRow.hour >= start,
        DriftBucketRow.hour < end,
    )
    if features is not None:
        query = query.where(DriftBucketRow.feature.in_(features))
    with _no_gc(), session_scope(store_url) as session:
        rows = session.execute(query).all()
        if not rows:
            return []
        vectors = json.loads("[" + ",".join(text for _h, _f, text in rows) + "]")
        return [(h, f, v) for (h, f, _t), v in zip(rows, vectors, strict=True)]


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic GC for one window read.

    A 7-day read allocates ~10^4 small lists at once, which triggers a full
    collection of the whole process heap (in a server, 100+ ms, more than the
    read itself); none of them form cycles, so nothing is lost by waiting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _sum_by_feature(rows: list[tuple[datetime, str, list[int]]]) -> dict[str, np.ndarray]:
    grouped: dict[str, list[list[int]]] = {}
    for _hour, feature, counts in rows:
        grouped.setdefault(feature, []).append(counts)
    return {feature: np.asarray(lists, dtype=np.int64).sum(axis=0) for feature, lists in grouped.items()}


def window_counts(
    store_url: str,
    deployment_id: str,
    version: str,
    start: datetime,
    end: datetime,
    features: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Per feature (and the prediction, under the target's name), the window's hourly vectors summed.

    The window is ``start <= hour < end``; ``features`` limits the names read
    (None: all). Every window sum of the drift reads goes through here, so the
    storage behind it can change in one place.
    """
    return _sum_by_feature(_drift_rows(store_url, deployment_id, version, start, end, features))


def judge_feature_drift(
    deployment_id: str,
    *,
    store_url: str,
    version: str,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    settings: DriftHealthSettings | None = None,
) -> list[FeatureVerdict]:
    """Every feature's verdict over the window under ``settings``' rule, in the baseline's feature order.

    [] without a baseline. A feature with no rows in the window has a verdict
    with ``score=None`` (see :func:`.drift_rule.judge_features`).
    """
    start, end = resolve_window(start_time, end_time)
    baseline = load_baseline(store_url, deployment_id, version)
    if baseline is None:
        return []
    names = list(baseline.features)
    totals = window_counts(store_url, deployment_id, version, start, end, names)
    counts = {name: totals.get(name, np.zeros(baseline.bins(name).n_bins, dtype=np.int64)) for name in names}
    verdicts = judge_features(baseline, counts, settings)
    return [verdicts[name] for name in names]


def _score(baseline: Baseline, name: str, counts: np.ndarray | None, metric: str) -> float | None:
    if counts is None or counts.sum() == 0:
        return None  # no rows in the window: no score (not "no drift")
    return drift_score(metric, baseline.baseline_counts[name], counts, baseline.bins(name))


@dataclass
class TargetDrift:
    """DataRobot's ``TargetDrift``."""

    deployment_id: str
    model_id: str | None
    target_name: str | None
    metric: str
    drift_score: float | None
    sample_size: int
    baseline_sample_size: int
    period: dict[str, str]
    tracking_enabled: bool = True


@dataclass
class FeatureDriftResult:
    """One feature's drift (``FeatureDrift.list`` returns these)."""

    name: str
    metric: str
    drift_score: float | None
    feature_impact: float | None
    sample_size: int
    baseline_sample_size: int
    period: dict[str, str]
    model_id: str | None = None


def _drift_context(
    store_url: str, deployment_id: str, version: str, metric: str | None, default_metric: str
) -> tuple[Baseline | None, str]:
    name = str(metric or default_metric)
    get_drift_metric(name)  # unknown metric: ValueError naming the registered ones
    baseline = load_baseline(store_url, deployment_id, version)
    return baseline, name


def get_target_drift(
    deployment_id: str,
    *,
    store_url: str,
    version: str,
    metric: str | None = None,
    default_metric: str = "psi",
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    enabled: bool = True,
) -> TargetDrift:
    start, end = resolve_window(start_time, end_time)
    baseline, name = _drift_context(store_url, deployment_id, version, metric, default_metric)
    # No baseline (deployed without training data) or no prediction bins: no score.
    target = baseline.prediction.name if baseline is not None and baseline.prediction is not None else None
    if baseline is None or target is None or not enabled:
        return TargetDrift(deployment_id, version, target, name, None, 0, 0, period_of(start, end), enabled)
    counts = window_counts(store_url, deployment_id, version, start, end, [target]).get(target)
    return TargetDrift(
        deployment_id,
        version,
        target,
        name,
        _score(baseline, target, counts, name),
        0 if counts is None else int(counts.sum()),
        int(sum(baseline.baseline_counts[target])),
        period_of(start, end),
    )


def list_feature_drift(
    deployment_id: str,
    *,
    store_url: str,
    version: str,
    metric: str | None = None,
    default_metric: str = "psi",
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    enabled: bool = True,
) -> list[FeatureDriftResult]:
    """Every feature's drift, most important first (then by name); [] when feature drift is off."""
    start, end = resolve_window(start_time, end_time)
    baseline, name = _drift_context(store_url, deployment_id, version, metric, default_metric)
    if baseline is None or not enabled:
        return []
    totals = window_counts(store_url, deployment_id, version, start, end, list(baseline.features))
    out = [
        FeatureDriftResult(
            feature,
            name,
            _score(baseline, feature, totals.get(feature), name),
            baseline.importance.get(feature),
            0 if feature not in totals else int(totals[feature].sum()),
            int(sum(baseline.baseline_counts[feature])),
            period_of(start, end),
            version,
        )
        for feature in baseline.features
    ]
    return sorted(out, key=lambda f: (-(f.feature_impact or 0.0), f.name))


def get_drift_over_time(
    deployment_id: str,
    *,
    store_url: str,
    version: str,
    feature: str,
    metric: str | None = None,
    default_metric: str = "psi",
    bucket_size: str = "P1D",
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
) -> OverTime:
    """One feature's (or the target's, by its name) drift per bucket."""
    start, end = resolve_window(start_time, end_time)
    baseline, name = _drift_context(store_url, deployment_id, version, metric, default_metric)
    if baseline is None:
        raise LookupError(
            f"model version {version!r} of deployment {deployment_id} has no monitoring baseline"
        )
    baseline.bins(feature)  # unknown name: KeyError listing the known ones
    bounds = bucket_bounds(start, end, bucket_size)
    sums: list[np.ndarray | None] = [None] * len(bounds)
    for hour, _f, counts in _drift_rows(store_url, deployment_id, version, start, end, [feature]):
        i = bucket_index(bounds, hour)
        vector = np.asarray(counts, dtype=np.int64)
        current = sums[i]
        sums[i] = vector if current is None else current + vector
    result = OverTime(
        deployment_id, version, name, bucket_size, period_of(start, end), [], extra={"feature": feature}
    )
    for (lo, hi), summed in zip(bounds, sums, strict=True):
        value = _score(baseline, feature, summed, name)
        result.buckets.append(
            {
                "period": period_of(lo, hi),
                "value": value,
                "sampleSize": 0 if summed is None else int(summed.sum()),
            }
        )
        result.bucket_values[lo] = value
    return result


@dataclass
class FeatureHistogram:
    """A feature's (or the target's) baseline and window counts on the baseline's bins.

    ``bins`` holds, per bin in the baseline's order, its label, both counts and both
    shares (count / total; a window with no rows has ``None`` shares, not zeros).
    """

    deployment_id: str
    model_id: str | None
    feature_name: str
    kind: str
    bins: list[dict[str, Any]]
    sample_size: int
    baseline_sample_size: int
    period: dict[str, str]


def _share(count: int, total: int) -> float | None:
    return None if total == 0 else count / total


def get_feature_histogram(
    deployment_id: str,
    *,
    store_url: str,
    version: str,
    feature: str,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
) -> FeatureHistogram:
    """The counts a drift score compares: the baseline's and the window's, bin by bin."""
    start, end = resolve_window(start_time, end_time)
    baseline = load_baseline(store_url, deployment_id, version)
    if baseline is None:
        raise LookupError(
            f"model version {version!r} of deployment {deployment_id} has no monitoring baseline"
        )
    bins = baseline.bins(feature)  # unknown name: KeyError listing the known ones
    reference = [int(c) for c in baseline.baseline_counts[feature]]
    summed = window_counts(store_url, deployment_id, version, start, end, [feature]).get(feature)
    window = [0] * bins.n_bins if summed is None else [int(c) for c in summed]
    base_total, window_total = sum(reference), sum(window)
    return FeatureHistogram(
        deployment_id,
        version,
        feature,
        bins.kind,
        [
            {
                "label": label,
                "baseline": _share(b, base_total),
                "window": _share(w, window_total),
                "baselineCount": b,
                "windowCount": w,
            }
            for label, b, w in zip(bins.labels, reference, window, strict=True)
        ],
        window_total,
        base_total,
        period_of(start, end),
    )


# ---- accuracy ---------------------------------------------------------------------------------------
