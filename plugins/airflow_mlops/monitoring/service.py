"""Service stats: per-hour request state that sums across any window, and the 11 metrics over it.

Every SERVICE_STAT_METRIC must be answerable for any window from per-hour rows
alone, so each hour keeps only *mergeable* state (sums, fixed histograms, sets):

* ``predictions`` rows scored (status < 400); ``requests`` requests, of which
  ``user_errors`` answered 4xx, ``server_errors`` 5xx and ``slow_requests`` took
  over :data:`SLOW_REQUEST_MS` (DataRobot's 1000 ms);
* ``response_hist`` / ``execution_hist``: request counts over the fixed,
  log-spaced bins :data:`LATENCY_EDGES_MS` (20 per decade from 0.01 ms to 10 min,
  plus under- and overflow). A quantile is read by linear interpolation inside
  its bin, so its relative error is below one bin's width (10^(1/20) - 1 = 12%,
  in practice much less); exact quantiles would need every latency kept;
* ``per_minute``: requests started in each of the hour's 60 minutes, for
  ``medianLoad`` and ``peakLoad`` (requests per minute) over the active hours;
* ``consumers``: the distinct callers of the hour (``caller`` in the log), kept
  as a sorted set capped at :data:`MAX_CONSUMERS_PER_HOUR`;
* ``cache_hits`` / ``cache_lookups`` from the log's ``cache_hit`` column;
* ``warned_rows`` / ``outlier_predictions``: scored rows whose ``prediction_warning``
  is known (a regression deployment with warnings on) and those flagged, for the
  humility stats (:mod:`airflow_mlops.monitoring.reads.humility`).

What the prediction log holds decides what can be known. A *request* is the
rows sharing a ``request_id`` when the log has one; otherwise the consecutive
rows of a file with the same latency, status and model version (the serving
app writes one latency per request). A request whose rows fall into several
hours counts once in each. ``executionTime`` uses ``execution_ms`` when logged,
else the response latency. Without a known ``caller`` ``numConsumers`` is null,
and without a known ``cache_hit`` ``cacheHitRatio`` is null: unknown, not zero.
The serving app writes all four per request (``serving.scoring.log_batch``);
reported predictions carry ``request_id`` and ``caller`` only, batch scoring
``request_id``, ``caller`` and ``execution_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from airflow_mlops.enums import SERVICE_STAT_METRIC
from airflow_mlops.prediction_log import WARNING_COLUMN

__all__ = [
    "LATENCY_EDGES_MS",
    "SLOW_REQUEST_MS",
    "HourState",
    "hist_quantile",
    "service_stats_from_states",
]

#: DataRobot's slow request: over 1000 ms.
SLOW_REQUEST_MS = 1000.0
#: 20 log-spaced bins per decade, 0.01 ms .. 600 000 ms; bins are [e_i, e_i+1).
LATENCY_EDGES_MS: NDArray[np.float64] = np.concatenate(
    [10.0 ** np.arange(-2.0, 5.0, 0.05), np.array([100_000.0, 600_000.0])]
)
N_LATENCY_BINS = len(LATENCY_EDGES_MS) + 1
#: Cap on distinct callers remembered per hour (beyond it numConsumers is a lower bound).
MAX_CONSUMERS_PER_HOUR = 10_000


def latency_hist(values_ms: NDArray[np.float64]) -> NDArray[np.int64]:
    """Counts of ``values_ms`` over :data:`LATENCY_EDGES_MS` (bin 0 underflow, last overflow)."""
    codes = np.searchsorted(LATENCY_EDGES_MS, np.asarray(values_ms, dtype="float64"), side="right")
    return np.bincount(codes, minlength=N_LATENCY_BINS).astype(np.int64)


def hist_quantile(hist: NDArray[np.int64] | list[int], q: float) -> float | None:
    """The ``q`` quantile of a latency histogram, interpolated inside its bin; None when empty."""
    counts = np.asarray(hist, dtype="float64")
    total = counts.sum()
    if total <= 0:
        return None
    target = q * total
    cumulative = np.cumsum(counts)
    index = int(np.searchsorted(cumulative, target, side="left"))
    index = min(index, len(counts) - 1)
    lows = np.concatenate([[0.0], LATENCY_EDGES_MS])
    highs = np.concatenate([LATENCY_EDGES_MS, [LATENCY_EDGES_MS[-1]]])
    before = cumulative[index - 1] if index > 0 else 0.0
    inside = counts[index]
    fraction = 0.0 if inside <= 0 else (target - before) / inside
    return float(lows[index] + fraction * (highs[index] - lows[index]))


@dataclass
class HourState:
    """One (model version, hour)'s mergeable service state; see the module docstring."""

    predictions: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    requests: int = 0
    user_errors: int = 0
    server_errors: int = 0
    slow_requests: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0
    warned_rows: int = 0
    outlier_predictions: int = 0
    response_hist: NDArray[np.int64] = field(default_factory=lambda: np.zeros(N_LATENCY_BINS, np.int64))
    execution_hist: NDArray[np.int64] = field(default_factory=lambda: np.zeros(N_LATENCY_BINS, np.int64))
    per_minute: NDArray[np.int64] = field(default_factory=lambda: np.zeros(60, np.int64))
    consumers: set[str] | None = None

    def add_rows(self, rows: pd.DataFrame, request_start: NDArray[np.bool_]) -> None:
        """Fold log rows of this hour; ``request_start`` marks each request's first row."""
        status = rows["status_code"].to_numpy(dtype="int64")
        latency = rows["latency_ms"].to_numpy(dtype="float64")
        ok = status < 400
        self.predictions += int(ok.sum())
        self.errors += int((~ok).sum())
        self.latency_ms_sum += float(latency.sum())
        first = np.asarray(request_start, dtype=bool)
        req_status = status[first]
        req_latency = latency[first]
        self.requests += int(first.sum())
        self.user_errors += int(((req_status >= 400) & (req_status < 500)).sum())
        self.server_errors += int((req_status >= 500).sum())
        self.slow_requests += int((req_latency > SLOW_REQUEST_MS).sum())
        self.response_hist += latency_hist(req_latency)
        if "execution_ms" in rows.columns:
            execution = pd.to_numeric(rows["execution_ms"], errors="coerce").to_numpy(dtype="float64")[first]
            execution = np.where(np.isnan(execution), req_latency, execution)
        else:
            execution = req_latency
        self.execution_hist += latency_hist(execution)
        stamps = rows["timestamp"]
        if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = pd.to_datetime(stamps, utc=True)
        minutes = stamps.dt.tz_convert("UTC").dt.minute.to_numpy()[first]
        self.per_minute += np.bincount(minutes, minlength=60).astype(np.int64)
        if "caller" in rows.columns:
            callers = rows["caller"][first]
            seen = {str(c) for c in callers[callers.notna()].unique()}
            # A column of nulls (rows logged without a caller) says nothing: unknown stays None, not 0.
            if seen:
                self.consumers = (self.consumers or set()) | seen
            if self.consumers is not None and len(self.consumers) > MAX_CONSUMERS_PER_HOUR:
                self.consumers = set(sorted(self.consumers)[:MAX_CONSUMERS_PER_HOUR])
        if "cache_hit" in rows.columns:
            hits = rows["cache_hit"][first]
            known = hits.notna().to_numpy()
            self.cache_lookups += int(known.sum())
            self.cache_hits += int(hits[known].astype(bool).sum())
        if WARNING_COLUMN in rows.columns:
            flags = rows[WARNING_COLUMN][ok]
            flagged = flags.notna().to_numpy()
            self.warned_rows += int(flagged.sum())
            self.outlier_predictions += int(flags[flagged].astype(bool).sum())

    def absorb(self, other: HourState) -> None:
        """Add another state of the same (version, hour): the fold merges files before committing them."""
        for name in (
            "predictions",
            "errors",
            "latency_ms_sum",
            "requests",
            "user_errors",
            "server_errors",
            "slow_requests",
            "cache_hits",
            "cache_lookups",
            "warned_rows",
            "outlier_predictions",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.response_hist = self.response_hist + other.response_hist
        self.execution_hist = self.execution_hist + other.execution_hist
        self.per_minute = self.per_minute + other.per_minute
        if other.consumers is not None:
            self.consumers = (self.consumers or set()) | other.consumers

    def merge_into(self, row: Any) -> None:
        """Add this state to a stored ``ServiceBucketRow`` (created with zeros/None)."""
        row.predictions = (row.predictions or 0) + self.predictions
        row.errors = (row.errors or 0) + self.errors
        row.latency_ms_sum = (row.latency_ms_sum or 0.0) + self.latency_ms_sum
        for name in (
            "requests",
            "user_errors",
            "server_errors",
            "slow_requests",
            "cache_hits",
            "cache_lookups",
            "warned_rows",
            "outlier_predictions",
        ):
            setattr(row, name, (getattr(row, name) or 0) + getattr(self, name))
        for name in ("response_hist", "execution_hist", "per_minute"):
            stored = getattr(row, name)
            mine = getattr(self, name)
            total = mine if stored is None else np.asarray(stored, dtype=np.int64) + mine
            setattr(row, name, [int(v) for v in total])
        if self.consumers is not None:
            merged = set(row.consumers or []) | self.consumers
            row.consumers = sorted(merged)[:MAX_CONSUMERS_PER_HOUR]


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def service_stats_from_states(rows: Iterable[Any], *, quantile: float = 0.5) -> dict[str, Any]:
    """Every SERVICE_STAT_METRIC over stored ``ServiceBucketRow``s (any window: just the rows in it).

    Formulas (``R`` requests in the window):

    * totalPredictions = sum(predictions); totalRequests = R; slowRequests = requests > 1000 ms
    * executionTime / responseTime = the ``quantile`` (default 0.5) of the per-request histograms, ms
    * userErrorRate = 4xx requests / R; serverErrorRate = 5xx requests / R
    * numConsumers = |union of the hours' caller sets| (null if no caller was logged)
    * cacheHitRatio = hits / lookups (null if no lookup was logged)
    * medianLoad / peakLoad = median / max of requests per minute over the minutes of
      hours that had any request (idle hours are not minutes of load)

    Rates and times are null in an empty window: no traffic is not "0% errors".
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile={quantile!r} is not valid; expected a number in [0, 1]")
    totals = HourState()
    callers: set[str] = set()
    any_callers = False
    minutes: list[NDArray[np.int64]] = []
    for row in rows:
        totals.predictions += int(row.predictions or 0)
        totals.errors += int(row.errors or 0)
        totals.requests += int(row.requests or 0)
        totals.user_errors += int(row.user_errors or 0)
        totals.server_errors += int(row.server_errors or 0)
        totals.slow_requests += int(row.slow_requests or 0)
        totals.cache_hits += int(row.cache_hits or 0)
        totals.cache_lookups += int(row.cache_lookups or 0)
        if row.response_hist is not None:
            totals.response_hist += np.asarray(row.response_hist, dtype=np.int64)
        if row.execution_hist is not None:
            totals.execution_hist += np.asarray(row.execution_hist, dtype=np.int64)
        if row.per_minute is not None and int(row.requests or 0) > 0:
            minutes.append(np.asarray(row.per_minute, dtype=np.int64))
        if row.consumers is not None:
            any_callers = True
            callers.update(row.consumers)
    load = np.concatenate(minutes) if minutes else np.zeros(0, dtype=np.int64)
    return {
        SERVICE_STAT_METRIC.TOTAL_PREDICTIONS.value: totals.predictions,
        SERVICE_STAT_METRIC.TOTAL_REQUESTS.value: totals.requests,
        SERVICE_STAT_METRIC.SLOW_REQUESTS.value: totals.slow_requests,
        SERVICE_STAT_METRIC.EXECUTION_TIME.value: hist_quantile(totals.execution_hist, quantile),
        SERVICE_STAT_METRIC.RESPONSE_TIME.value: hist_quantile(totals.response_hist, quantile),
        SERVICE_STAT_METRIC.USER_ERROR_RATE.value: _rate(totals.user_errors, totals.requests),
        SERVICE_STAT_METRIC.SERVER_ERROR_RATE.value: _rate(totals.server_errors, totals.requests),
        SERVICE_STAT_METRIC.NUM_CONSUMERS.value: len(callers) if any_callers else None,
        SERVICE_STAT_METRIC.CACHE_HIT_RATIO.value: _rate(totals.cache_hits, totals.cache_lookups),
        SERVICE_STAT_METRIC.MEDIAN_LOAD.value: float(np.median(load)) if load.size else None,
        SERVICE_STAT_METRIC.PEAK_LOAD.value: int(load.max()) if load.size else None,
    }


def request_starts(frame: pd.DataFrame, previous_key: tuple[Any, ...] | None) -> NDArray[np.bool_]:
    """Which rows start a request (see the module docstring), given the key of the row before."""
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if "request_id" in frame.columns:
        ids = frame["request_id"].astype(object).where(frame["request_id"].notna(), None)
        values = ids.to_numpy()
        starts = np.ones(n, dtype=bool)
        starts[1:] = values[1:] != values[:-1]
        # Rows without a request id are each their own request.
        starts |= pd.isna(ids).to_numpy()
        if previous_key is not None and values[0] is not None and previous_key == (values[0],):
            starts[0] = False
        return starts
    latency = frame["latency_ms"].to_numpy(dtype="float64")
    status = frame["status_code"].to_numpy(dtype="int64")
    version = frame["model_version"].astype(str).to_numpy()
    starts = np.ones(n, dtype=bool)
    starts[1:] = (latency[1:] != latency[:-1]) | (status[1:] != status[:-1]) | (version[1:] != version[:-1])
    if previous_key is not None and previous_key == (latency[0], status[0], version[0]):
        starts[0] = False
    return starts


def last_key(frame: pd.DataFrame) -> tuple[Any, ...] | None:
    """The request key of a batch's last row, so a request split across batches counts once."""
    if len(frame) == 0:
        return None
    if "request_id" in frame.columns:
        value = frame["request_id"].iloc[-1]
        return None if pd.isna(value) else (value,)
    return (
        float(frame["latency_ms"].iloc[-1]),
        int(frame["status_code"].iloc[-1]),
        str(frame["model_version"].iloc[-1]),
    )
