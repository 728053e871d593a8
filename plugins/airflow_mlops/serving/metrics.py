"""Prometheus metrics of the prediction server, read by a scraper at ``GET /metrics``.

Why ``prometheus-client``: it is Prometheus' own Python library, and its multiprocess
mode solves the one hard part here. ``airflow-mlops serve --workers N`` runs N
processes that each answer a share of the requests; a scrape lands on one of them.
With ``PROMETHEUS_MULTIPROC_DIR`` set, every process writes its values to
memory-mapped files in that directory and the process that answers the scrape sums
them (:class:`prometheus_client.multiprocess.MultiProcessCollector`). The variable
must be set before ``prometheus_client`` is first imported (the library picks its
value class then), so the CLI sets it, in a fresh directory per server, before
uvicorn starts the workers; a single worker keeps its values in memory.

Cost: a prediction resolves its label-bound series once per (deployment, model
version) (:class:`PredictionMetrics`) and then adds two counters and one histogram
observation, a few microseconds, nothing per row.

``model_version`` is the registry's model version id, ``<registered model>/<version>``
(``churn/3``), so a deployment replaced by another registered model stays unambiguous.
Label values are bounded: a request is labelled with its deployment only when this
worker has that deployment's model loaded (so it exists); requests naming an unknown
id count under ``deployment=""``, so a client cannot mint series by inventing ids.
"""

from __future__ import annotations

import glob
import os
import re
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "REGISTRY",
    "LogWriterMetrics",
    "PredictionMetrics",
    "PredictionOutcome",
    "exposition",
    "model_load_failed",
    "model_loaded",
    "model_swapped",
    "multiprocess_dir",
    "worker_exiting",
]

#: The variable prometheus-client reads: a directory shared by the server's worker processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Prometheus' text exposition format, as the library writes it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: This package's metrics only (not the process-wide default registry, which other libraries
#: in an Airflow process may fill, and whose process collectors do not work across workers).
REGISTRY = CollectorRegistry()

#: Seconds: from a 1-row request on a warm model (about a millisecond) to a large batch.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Seconds: reading a model from MLflow takes from a fraction of a second to minutes.
LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
STATUS_CLASSES = ("2xx", "4xx", "5xx")
_LABELS = ("deployment", "model_version", "status_class")

PREDICTION_REQUESTS = Counter(
    "mlops_prediction_requests_total",
    "Prediction requests answered, by deployment, model version and HTTP status class.",
    _LABELS,
    registry=REGISTRY,
)
PREDICTION_ROWS = Counter(
    "mlops_prediction_rows_total",
    "Rows read from prediction request bodies (every answered request, and failed ones "
    "whose body was parsed), by deployment, model version and HTTP status class.",
    _LABELS,
    registry=REGISTRY,
)
PREDICTION_LATENCY = Histogram(
    "mlops_prediction_request_duration_seconds",
    "Time from a prediction request's arrival to its answer being sent.",
    _LABELS,
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
MODEL_LOADS = Counter(
    "mlops_model_loads_total",
    "Models loaded into a worker's memory (each worker loads its own copy).",
    ("deployment", "model_version"),
    registry=REGISTRY,
)
MODEL_LOAD_FAILURES = Counter(
    "mlops_model_load_failures_total",
    "Model loads that failed (the worker keeps serving the previous version, if any).",
    ("deployment", "model_version"),
    registry=REGISTRY,
)
MODEL_LOAD_SECONDS = Histogram(
    "mlops_model_load_duration_seconds",
    "Time to load a model into a worker's memory.",
    ("deployment",),
    buckets=LOAD_BUCKETS,
    registry=REGISTRY,
)
MODEL_SWAPS = Counter(
    "mlops_model_swaps_total",
    "Replacements of a deployment's model published in a worker (the new model loaded, then swapped in).",
    ("deployment",),
    registry=REGISTRY,
)
LOG_PENDING_ROWS = Gauge(
    "mlops_prediction_log_pending_rows",
    "Prediction-log rows accepted but not yet written (summed over the live workers).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
LOG_WRITTEN_ROWS = Counter(
    "mlops_prediction_log_written_rows_total",
    "Prediction-log rows written to the log.",
    registry=REGISTRY,
)
LOG_FLUSH_FAILURES = Counter(
    "mlops_prediction_log_flush_failures_total",
    "Prediction-log flushes that failed (each retry counts; the rows stay buffered).",
    registry=REGISTRY,
)


def multiprocess_dir() -> str | None:
    """The multiprocess directory this process writes its values to, or ``None`` (values in memory)."""
    return os.environ.get(MULTIPROC_ENV) or None


class PredictionOutcome:
    """What the endpoint learned about one request, for its metrics: filled as it goes."""

    __slots__ = ("deployment", "model_version", "rows")

    def __init__(self) -> None:
        self.deployment: str | None = None
        self.model_version = ""
        self.rows = 0


class _Series:
    """The label-bound children of one (deployment, model version), per status class."""

    __slots__ = ("by_class",)

    def __init__(self, deployment: str, version: str) -> None:
        self.by_class = {status: self._bind(deployment, version, status) for status in STATUS_CLASSES}

    @staticmethod
    def _bind(deployment: str, version: str, status: str) -> tuple[Counter, Counter, Histogram]:
        labels = (deployment, version, status)
        return (
            PREDICTION_REQUESTS.labels(*labels),
            PREDICTION_ROWS.labels(*labels),
            PREDICTION_LATENCY.labels(*labels),
        )

    def get(self, deployment: str, version: str, status: str) -> tuple[Counter, Counter, Histogram]:
        bound = self.by_class.get(status)
        if bound is None:  # 1xx/3xx: never answered by the prediction route, but counted if ever
            bound = self.by_class[status] = self._bind(deployment, version, status)
        return bound


class PredictionMetrics:
    """Counts prediction requests; label lookups happen once per (deployment, model version)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], _Series] = {}
        self._lock = threading.Lock()

    def observe(self, outcome: PredictionOutcome, status: int, seconds: float) -> None:
        deployment = outcome.deployment or ""
        version = outcome.model_version if deployment else ""
        key = (deployment, version)
        series = self._series.get(key)
        if series is None:
            with self._lock:
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = _Series(deployment, version)
        requests, rows, latency = series.get(deployment, version, f"{status // 100}xx")
        requests.inc()
        if outcome.rows:
            rows.inc(outcome.rows)
        latency.observe(seconds)


def model_loaded(deployment: str, version: str, seconds: float) -> None:
    MODEL_LOADS.labels(deployment, version).inc()
    MODEL_LOAD_SECONDS.labels(deployment).observe(seconds)


def model_load_failed(deployment: str, version: str) -> None:
    MODEL_LOAD_FAILURES.labels(deployment, version).inc()


def model_swapped(deployment: str) -> None:
    MODEL_SWAPS.labels(deployment).inc()


class LogWriterMetrics:
    """The prediction-log writer's events (see ``PredictionLogWriter(events=...)``) as metrics."""

    def pending(self, rows: int) -> None:
        LOG_PENDING_ROWS.set(rows)

    def written(self, rows: int) -> None:
        LOG_WRITTEN_ROWS.inc(rows)

    def failed(self) -> None:
        LOG_FLUSH_FAILURES.inc()


_LIVE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def _forget_dead_workers(path: str) -> None:
    """Drop the live gauges of worker processes that are gone (uvicorn replaces a dead worker).

    A worker that exits normally does this itself (:func:`worker_exiting`); one that was
    killed cannot, and its last queue depth would otherwise be summed for ever.
    """
    for name in {os.path.basename(p) for p in glob.glob(os.path.join(path, "gauge_live*_*.db"))}:
        match = _LIVE_FILE.match(name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)
        except PermissionError:
            pass  # alive, another user's


def worker_exiting() -> None:
    """A worker's last step: its live gauges (the log's queue depth) no longer count."""
    path = multiprocess_dir()
    if path is not None:
        mark_process_dead(os.getpid(), path)


class _Visible:
    """A collector that keeps only the series of the deployments a caller may read."""

    def __init__(self, source: CollectorRegistry, deployments: frozenset[str]) -> None:
        self._source = source
        self._deployments = deployments

    def collect(self) -> Iterator[Metric]:
        for metric in self._source.collect():
            metric.samples = [
                sample
                for sample in metric.samples
                if sample.labels.get("deployment", "") in self._deployments
                or not sample.labels.get("deployment")
            ]
            yield metric


def exposition(deployments: frozenset[str] | None = None) -> bytes:
    """The metrics in Prometheus' text format; ``deployments`` limits the per-deployment series.

    ``None`` shows every deployment (an administrator); series without a deployment
    (the prediction log's, requests for unknown ids) are always shown.
    """
    path = multiprocess_dir()
    source: CollectorRegistry
    if path is None:
        source = REGISTRY
    else:
        _forget_dead_workers(path)
        source = CollectorRegistry()
        MultiProcessCollector(source, path)
    if deployments is None:
        return generate_latest(source)
    filtered = CollectorRegistry(auto_describe=False)
    filtered.register(_Visible(source, deployments))
    return generate_latest(filtered)
