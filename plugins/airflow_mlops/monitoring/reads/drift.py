"""Target and feature drift of a window, or over time, from the baseline's bins and hourly counts."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select

from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.drift import drift_score, get_drift_metric
from airflow_mlops.monitoring.drift_buckets import feature_rows, window_sums
from airflow_mlops.monitoring.drift_rule import FeatureVerdict, judge_features
from airflow_mlops.monitoring.health_settings import DriftHealthSettings
from airflow_mlops.monitoring.reads.window import (
    OverTime,
    bucket_bounds,
    bucket_index,
    period_of,
    resolve_window,
)
from airflow_mlops.store import BaselineRow, session_scope

#: Parsed baselines by (store, deployment, version), each with the ``created_at`` it was read at.
_BASELINES: OrderedDict[tuple[str, str, str], tuple[datetime, Baseline]] = OrderedDict()
_BASELINES_KEPT = 64
_baselines_lock = threading.Lock()


def load_baseline(store_url: str, deployment_id: str, version: str) -> Baseline | None:
    """The model version's baseline; parsed once per stored version of it, then shared.

    A baseline with 100 bins per feature, hundreds of categories and its reference
    sample is tens of kB of JSON: parsing it was most of a 7-day drift query. A
    replacement that re-fixes a version's baseline writes a new ``created_at``, so
    the cache is checked against it with a one-column primary-key read. The
    returned object is shared between callers: read it, never change it.
    """
    key = (store_url, deployment_id, version)
    with session_scope(store_url) as session:
        stamp = session.scalar(
            select(BaselineRow.created_at).where(
                BaselineRow.deployment_id == deployment_id, BaselineRow.model_version == version
            )
        )
        if stamp is None:
            return None
        with _baselines_lock:
            cached = _BASELINES.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        row = session.get(BaselineRow, (deployment_id, version))
        if row is None:
            return None
        baseline = Baseline.from_dict(row.baseline)
        stamp = row.created_at
    with _baselines_lock:
        _BASELINES[key] = (stamp, baseline)
        _BASELINES.move_to_end(key)
        while len(_BASELINES) > _BASELINES_KEPT:
            _BASELINES.popitem(last=False)
    return baseline


def window_counts(
    store_url: str,
    deployment_id: str,
    version: str,
    start: datetime,
    end: datetime,
    features: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Per feature (default: every stored one), the bin counts of ``start <= hour < end``, summed.

    Every window's drift goes through here. Whole UTC days come from the daily
    rollup and only the edge hours from the hourly rows (:mod:`.drift_buckets`), so
    a 90-day window reads ~100 rows whatever the traffic. A feature with no rows in
    the window is absent (not a vector of zeros).
    """
    return window_sums(store_url, deployment_id, version, start, end, features)


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
    period = period_of(start, end)
    out = [
        FeatureDriftResult(
            feature,
            name,
            _score(baseline, feature, totals.get(feature), name),
            baseline.importance.get(feature),
            0 if feature not in totals else int(totals[feature].sum()),
            int(sum(baseline.baseline_counts[feature])),
            dict(period),
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
    # Rows never straddle a bucket boundary: a day cut by one is read hour by hour.
    cuts = [lo for lo, _hi in bounds[1:]]
    for moment, vector in feature_rows(store_url, deployment_id, version, start, end, feature, cuts):
        i = bucket_index(bounds, moment)
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
