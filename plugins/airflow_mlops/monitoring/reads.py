"""Monitoring reads in DataRobot's shape: any window, or over time per bucket size, from buckets only.

Windows follow DataRobot: ``start_time``/``end_time`` are tops of hours (UTC; a
naive time means UTC), the default is the 7 days before the next top of the
hour, and a window is ``start <= hour < end``. Bucket sizes are ``PT1H``, ``P1D``,
``P7D`` (whole hours from ``start_time``) and ``P1M`` (calendar months from
``start_time``'s day and hour; the last bucket is cut at ``end_time``).
Every read sums stored hourly rows: its cost is hours x features, whatever the
traffic.
"""

from __future__ import annotations

import gc
import json
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Text, select, type_coerce

from airflow_mlops.enums import SERVICE_STAT_METRIC, parse_enum
from airflow_mlops.monitoring.accuracy import (
    accuracy_metric_names,
    compute_accuracy,
    get_accuracy_metric,
)
from airflow_mlops.monitoring.actuals import pending_actuals
from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.monitoring.drift import drift_score, get_drift_metric
from airflow_mlops.monitoring.service import service_stats_from_states
from airflow_mlops.store import (
    AccuracyBucketRow,
    BaselineRow,
    DriftBucketRow,
    ServiceBucketRow,
    session_scope,
)

BUCKET_SIZES = ("PT1H", "P1D", "P7D", "P1M")
TASK_OF = {"Binary": "binary", "Multiclass": "multiclass", "Regression": "regression"}
#: Most buckets one over-time read may return (a year of hours).
MAX_BUCKETS = 24 * 366


def _as_utc(value: datetime | str, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}={value!r} is not an ISO-8601 time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name}={value!r} is not valid; expected a datetime or an ISO-8601 string")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"{name}={value.isoformat()!r} is not valid; expected the top of an hour (UTC)")
    return value


def resolve_window(
    start_time: datetime | str | None, end_time: datetime | str | None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of a read: DataRobot's defaults and checks."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    end = (
        _as_utc(end_time, "end_time")
        if end_time is not None
        else moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    )
    start = _as_utc(start_time, "start_time") if start_time is not None else end - timedelta(days=7)
    if start >= end:
        raise ValueError(f"start_time {start.isoformat()} must be before end_time {end.isoformat()}")
    return start, end


def _add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:  # 31 January + 1 month: the last day of February
            day -= 1


def bucket_bounds(start: datetime, end: datetime, bucket_size: str) -> list[tuple[datetime, datetime]]:
    """Consecutive ``[lo, hi)`` buckets covering the window."""
    if bucket_size not in BUCKET_SIZES:
        raise ValueError(f"bucket_size={bucket_size!r} is not valid; expected one of {list(BUCKET_SIZES)}")
    step = {"PT1H": timedelta(hours=1), "P1D": timedelta(days=1), "P7D": timedelta(days=7)}.get(bucket_size)
    bounds: list[tuple[datetime, datetime]] = []
    lo = start
    while lo < end:
        hi = lo + step if step is not None else _add_month(lo)
        bounds.append((lo, min(hi, end)))
        lo = hi
        if len(bounds) > MAX_BUCKETS:
            raise ValueError(
                f"{bucket_size} buckets from {start.isoformat()} to {end.isoformat()} are more than "
                f"{MAX_BUCKETS}; use a larger bucket_size or a shorter window"
            )
    return bounds


def _bucket_index(bounds: list[tuple[datetime, datetime]], hour: datetime) -> int:
    lo, hi = 0, len(bounds)
    while lo < hi:
        mid = (lo + hi) // 2
        if bounds[mid][1] <= hour:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _period(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def model_version_of(model_id: str | None) -> str | None:
    """``'<name>/<version>'`` or a bare version to the stored version key."""
    if model_id is None:
        return None
    text = str(model_id)
    return text.rsplit("/", 1)[-1] if text else None


# ---- service stats --------------------------------------------------------------------------------


@dataclass
class ServiceStats:
    """DataRobot's ``ServiceStats``: ``metrics`` maps each SERVICE_STAT_METRIC to its value."""

    deployment_id: str
    model_id: str | None
    period: dict[str, str]
    metrics: dict[str, Any]

    def __getitem__(self, metric: str) -> Any:
        return self.metrics[parse_enum(SERVICE_STAT_METRIC, metric, field="metric").value]


@dataclass
class OverTime:
    """DataRobot's ``…OverTime``: ``bucket_values`` maps each bucket start to the value (None: no data)."""

    deployment_id: str
    model_id: str | None
    metric: str
    bucket_size: str
    period: dict[str, str]
    buckets: list[dict[str, Any]]
    bucket_values: OrderedDict[datetime, Any] = field(default_factory=OrderedDict)
    extra: dict[str, Any] = field(default_factory=dict)


def _service_rows(
    store_url: str, deployment_id: str, version: str | None, start: datetime, end: datetime
) -> list[ServiceBucketRow]:
    query = select(ServiceBucketRow).where(
        ServiceBucketRow.deployment_id == deployment_id,
        ServiceBucketRow.hour >= start,
        ServiceBucketRow.hour < end,
    )
    if version is not None:
        query = query.where(ServiceBucketRow.model_version == version)
    with session_scope(store_url) as session:
        rows = list(session.scalars(query.order_by(ServiceBucketRow.hour)))
        session.expunge_all()
    return rows


def get_service_stats(
    deployment_id: str,
    *,
    store_url: str,
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    execution_time_quantile: float = 0.5,
    response_time_quantile: float = 0.5,
) -> ServiceStats:
    start, end = resolve_window(start_time, end_time)
    rows = _service_rows(store_url, deployment_id, model_version_of(model_id), start, end)
    metrics = service_stats_from_states(rows, quantile=response_time_quantile)
    if execution_time_quantile != response_time_quantile:
        other = service_stats_from_states(rows, quantile=execution_time_quantile)
        metrics[SERVICE_STAT_METRIC.EXECUTION_TIME.value] = other[SERVICE_STAT_METRIC.EXECUTION_TIME.value]
    return ServiceStats(deployment_id, model_id, _period(start, end), metrics)


def get_service_stats_over_time(
    deployment_id: str,
    *,
    store_url: str,
    metric: str = "totalPredictions",
    bucket_size: str = "PT1H",
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    quantile: float = 0.5,
) -> OverTime:
    name = parse_enum(SERVICE_STAT_METRIC, metric, field="metric").value
    start, end = resolve_window(start_time, end_time)
    bounds = bucket_bounds(start, end, bucket_size)
    grouped: list[list[ServiceBucketRow]] = [[] for _ in bounds]
    for row in _service_rows(store_url, deployment_id, model_version_of(model_id), start, end):
        grouped[_bucket_index(bounds, row.hour)].append(row)
    result = OverTime(deployment_id, model_id, name, bucket_size, _period(start, end), [])
    for (lo, hi), rows in zip(bounds, grouped, strict=True):
        value = service_stats_from_states(rows, quantile=quantile)[name] if rows else None
        result.buckets.append({"period": _period(lo, hi), "value": value})
        result.bucket_values[lo] = value
    return result


# ---- drift ------------------------------------------------------------------------------------------


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


def _score(baseline: Baseline, name: str, counts: np.ndarray | None, metric: str) -> float | None:
    if counts is None or counts.sum() == 0:
        return None  # no rows in the window: no score (not "no drift")
    return drift_score(metric, baseline.baseline_counts[name], counts)


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
        return TargetDrift(deployment_id, version, target, name, None, 0, 0, _period(start, end), enabled)
    counts = _sum_by_feature(_drift_rows(store_url, deployment_id, version, start, end, [target])).get(target)
    return TargetDrift(
        deployment_id,
        version,
        target,
        name,
        _score(baseline, target, counts, name),
        0 if counts is None else int(counts.sum()),
        int(sum(baseline.baseline_counts[target])),
        _period(start, end),
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
    totals = _sum_by_feature(
        _drift_rows(store_url, deployment_id, version, start, end, list(baseline.features))
    )
    out = [
        FeatureDriftResult(
            feature,
            name,
            _score(baseline, feature, totals.get(feature), name),
            baseline.importance.get(feature),
            0 if feature not in totals else int(totals[feature].sum()),
            int(sum(baseline.baseline_counts[feature])),
            _period(start, end),
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
        i = _bucket_index(bounds, hour)
        vector = np.asarray(counts, dtype=np.int64)
        current = sums[i]
        sums[i] = vector if current is None else current + vector
    result = OverTime(
        deployment_id, version, name, bucket_size, _period(start, end), [], extra={"feature": feature}
    )
    for (lo, hi), summed in zip(bounds, sums, strict=True):
        value = _score(baseline, feature, summed, name)
        result.buckets.append(
            {
                "period": _period(lo, hi),
                "value": value,
                "sampleSize": 0 if summed is None else int(summed.sum()),
            }
        )
        result.bucket_values[lo] = value
    return result


# ---- accuracy ---------------------------------------------------------------------------------------


def binary_actuals(actuals: list[str], positive: str | None) -> np.ndarray:
    """Class labels to 1 (the positive class) / 0; ``'1'`` and ``'1.0'`` are the same label."""

    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None

    if positive is None:
        truthy = {"1", "1.0", "true", "yes"}
        return np.array([1.0 if a.strip().lower() in truthy else 0.0 for a in actuals])
    pos_num = number(positive)
    out = np.empty(len(actuals))
    for i, actual in enumerate(actuals):
        num = number(actual)
        out[i] = (
            1.0 if actual == positive or (num is not None and pos_num is not None and num == pos_num) else 0.0
        )
    return out


def pairs_for_task(
    task: str, predictions: list[str], actuals: list[str], positive: str | None
) -> tuple[np.ndarray, np.ndarray]:
    if task == "multiclass":
        return np.asarray(predictions, dtype=object), np.asarray(actuals, dtype=object)
    p = np.asarray([float(v) for v in predictions], dtype="float64")
    if task == "binary":
        return p, binary_actuals(actuals, positive)
    return p, np.asarray([float(v) for v in actuals], dtype="float64")


@dataclass
class Accuracy:
    """DataRobot's ``Accuracy``: ``metrics`` maps each ACCURACY_METRIC of the task to its value."""

    deployment_id: str
    model_id: str | None
    period: dict[str, str]
    metrics: dict[str, float | None]
    baseline_metrics: dict[str, float | None]
    actuals_joined: int
    pairs_used: int
    pending_actuals: int

    def __getitem__(self, metric: str) -> float | None:
        if metric not in self.metrics:
            raise KeyError(
                f"{metric!r} is not an accuracy metric of this deployment; expected one of {list(self.metrics)}"
            )
        return self.metrics[metric]


def _accuracy_rows(
    store_url: str, deployment_id: str, version: str | None, start: datetime, end: datetime
) -> list[tuple[datetime, str, int, list[str], list[str]]]:
    query = select(
        AccuracyBucketRow.hour,
        AccuracyBucketRow.model_version,
        AccuracyBucketRow.joined,
        AccuracyBucketRow.predictions,
        AccuracyBucketRow.actuals,
    ).where(
        AccuracyBucketRow.deployment_id == deployment_id,
        AccuracyBucketRow.hour >= start,
        AccuracyBucketRow.hour < end,
    )
    if version is not None:
        query = query.where(AccuracyBucketRow.model_version == version)
    with session_scope(store_url) as session:
        return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


def _positive_classes(store_url: str, deployment_id: str) -> dict[str, str | None]:
    with session_scope(store_url) as session:
        return {
            row.model_version: (row.baseline or {}).get("positive_class")
            for row in session.scalars(select(BaselineRow).where(BaselineRow.deployment_id == deployment_id))
        }


def _metrics_over(
    task: str,
    rows: list[tuple[datetime, str, int, list[str], list[str]]],
    positives: dict[str, str | None],
    names: list[str] | None,
) -> tuple[dict[str, float | None], int, int]:
    preds: list[np.ndarray] = []
    acts: list[np.ndarray] = []
    joined = 0
    for _hour, version, n, p, a in rows:
        joined += int(n or 0)
        pp, aa = pairs_for_task(task, p, a, positives.get(version))
        preds.append(pp)
        acts.append(aa)
    p_all = np.concatenate(preds) if preds else np.zeros(0)
    a_all = np.concatenate(acts) if acts else np.zeros(0)
    return compute_accuracy(task, p_all, a_all, names), joined, len(p_all)


def get_accuracy(
    deployment_id: str,
    *,
    store_url: str,
    target_type: str,
    model_id: str | None = None,
    current_version: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
) -> Accuracy:
    task = TASK_OF[target_type]
    start, end = resolve_window(start_time, end_time)
    version = model_version_of(model_id)
    rows = _accuracy_rows(store_url, deployment_id, version, start, end)
    metrics, joined, used = _metrics_over(task, rows, _positive_classes(store_url, deployment_id), None)
    baseline = load_baseline(store_url, deployment_id, version or current_version or "")
    return Accuracy(
        deployment_id,
        model_id,
        _period(start, end),
        metrics,
        dict(baseline.holdout_metrics) if baseline is not None else {},
        joined,
        used,
        pending_actuals(deployment_id, store_url=store_url),
    )


def get_accuracy_over_time(
    deployment_id: str,
    *,
    store_url: str,
    target_type: str,
    metric: str | None = None,
    bucket_size: str = "P1D",
    model_id: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
) -> OverTime:
    task = TASK_OF[target_type]
    name = metric or accuracy_metric_names(task)[0]
    get_accuracy_metric(name, task)
    start, end = resolve_window(start_time, end_time)
    bounds = bucket_bounds(start, end, bucket_size)
    grouped: list[list[tuple[datetime, str, int, list[str], list[str]]]] = [[] for _ in bounds]
    for row in _accuracy_rows(store_url, deployment_id, model_version_of(model_id), start, end):
        grouped[_bucket_index(bounds, row[0])].append(row)
    positives = _positive_classes(store_url, deployment_id)
    result = OverTime(deployment_id, model_id, name, bucket_size, _period(start, end), [])
    for (lo, hi), rows in zip(bounds, grouped, strict=True):
        values, _joined, used = _metrics_over(task, rows, positives, [name])
        result.buckets.append({"period": _period(lo, hi), "value": values[name], "sampleSize": used})
        result.bucket_values[lo] = values[name]
    result.extra["pending_actuals"] = pending_actuals(deployment_id, store_url=store_url)
    return result


class FeatureDrift(FeatureDriftResult):
    """DataRobot's ``FeatureDrift``: ``FeatureDrift.list(deployment_id, ...)``, one per feature."""

    @classmethod
    def list(
        cls,
        deployment_id: str,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        metric: str | None = None,
        *,
        store_url: str | None = None,
    ) -> list[FeatureDriftResult]:
        from airflow_mlops.deployments import Deployment

        deployment = Deployment.get(deployment_id, store_url=store_url)
        return deployment.get_feature_drift(
            model_id=model_id, start_time=start_time, end_time=end_time, metric=metric
        )
