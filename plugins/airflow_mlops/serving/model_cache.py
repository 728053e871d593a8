"""Models in memory per (deployment, version), swapped atomically when the store says so.

A request takes one :class:`LoadedModel` at its start and uses it to the end,
so a replacement never changes the model under a request in flight. New
versions are loaded by a background thread and only then published, so no
request waits for a load and none fails during a replacement.

While the store cannot be reached (a PostgreSQL restart) the watcher keeps every
loaded model, says so once, and retries at its usual interval; a request for a
loaded model never reads the store, so predictions go on meanwhile.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select

from airflow_mlops.deployments import DeploymentNotFound, ModelRef, ModelVersionInfo, model_version_info
from airflow_mlops.deployments.settings import with_defaults
from airflow_mlops.serving.explaining import BACKGROUND_SAMPLE_ROWS, ExplainerSlot
from airflow_mlops.serving.metrics import model_load_failed, model_loaded, model_swapped
from airflow_mlops.store import BaselineRow, DeploymentRow, session_scope
from airflow_mlops.store.availability import describe_store, store_unreachable, unreachable_reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """Everything a request needs, fixed for its whole duration.

    ``settings`` (with defaults) and ``default_boundaries`` (the prediction-warning
    boundaries stored with this version's baseline) travel with the model, so the
    request path reads no store row: the watcher republishes a new ``LoadedModel``
    when the store's settings change.
    """

    deployment_id: str
    info: ModelVersionInfo
    model: Any
    status: str
    settings: dict[str, Any] = field(default_factory=lambda: with_defaults(None))
    feature_types: dict[str, str] | None = None
    default_boundaries: tuple[float, float] | None = None
    #: The model's explainer, built from its baseline's training sample on the first request that
    #: asks for explanations (``serving.explaining``); kept when settings change, like the model.
    explainer: ExplainerSlot = field(default_factory=ExplainerSlot, compare=False)

    @property
    def version(self) -> str:
        return self.info.ref.version

    @property
    def warning_boundaries(self) -> tuple[float, float] | None:
        """(lower, upper) when prediction warnings apply to this regression deployment, else None."""
        warning = self.settings["prediction_warning"]
        if self.info.task != "regression" or not warning["enabled"]:
            return None
        custom = warning.get("custom_boundaries")
        if custom:
            return float(custom["lower"]), float(custom["upper"])
        return self.default_boundaries


Loader = Callable[[ModelRef], Any]


class ModelCache:
    """Keeps each deployment's current model loaded and follows replacements."""

    def __init__(self, store_url: str, loader: Loader, *, refresh_interval_s: float = 0.5) -> None:
        self._store_url = store_url
        self._loader = loader
        self._refresh_interval_s = refresh_interval_s
        self._models: dict[str, LoadedModel] = {}
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warming = threading.Event()

    def start(self, *, warm: bool = False) -> None:
        """Follow the store in a background thread; with ``warm``, first load every active deployment.

        A server started with ``warm`` answers its first requests from memory
        instead of making them wait for a model load (:attr:`warming` says
        when that is still going on).
        """
        with self._load_lock:
            if self._thread is not None:
                return
            self._stop.clear()
            if warm:
                self._warming.set()
            self._thread = threading.Thread(target=self._watch, name="mlops-model-cache", daemon=True)
            self._thread.start()

    @property
    def warming(self) -> bool:
        return self._warming.is_set()

    def warm(self) -> int:
        """Load the model of every active deployment not cached yet; returns how many were loaded."""
        with session_scope(self._store_url) as session:
            ids = list(session.scalars(select(DeploymentRow.id).where(DeploymentRow.status == "active")))
        loaded = 0
        for deployment_id in ids:
            if self._stop.is_set():
                break
            if deployment_id in self._models:
                continue
            try:
                self.get(deployment_id)
                loaded += 1
            except Exception:  # a broken model must not keep the others cold; requests will say why
                log.exception("warming deployment %s failed; it loads on its first request", deployment_id)
        return loaded

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def is_loaded(self, deployment_id: str) -> bool:
        """Whether the deployment's model is in memory already (the next :meth:`get` loads nothing)."""
        return deployment_id in self._models

    def peek(self, deployment_id: str) -> LoadedModel | None:
        """The deployment's model if it is in memory, without loading anything."""
        return self._models.get(deployment_id)

    def get(self, deployment_id: str) -> LoadedModel:
        """The deployment's current model; loaded now only the first time it is asked for."""
        loaded = self._models.get(deployment_id)
        if loaded is not None:
            return loaded
        # Mounted inside Airflow's API server the app's lifespan never runs: start watching here.
        self.start()
        with self._load_lock:
            loaded = self._models.get(deployment_id)
            if loaded is None:
                name, version, status, settings = self._current(deployment_id)
                loaded = self._load(deployment_id, ModelRef(name, version), status, settings)
                self._models[deployment_id] = loaded
        return loaded

    def _current(self, deployment_id: str) -> tuple[str, str, str, dict[str, Any]]:
        with session_scope(self._store_url) as session:
            row = session.get(DeploymentRow, deployment_id)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {deployment_id!r}")
            return row.registered_model_name, row.model_version, row.status, with_defaults(row.settings)

    def _load(self, deployment_id: str, ref: ModelRef, status: str, settings: dict[str, Any]) -> LoadedModel:
        from airflow_mlops.monitoring.warning_boundaries import boundaries_from_baseline
        from airflow_mlops.serving.inputs import signature_types

        started = time.perf_counter()
        try:
            info = model_version_info(ref.id)
            model = self._loader(ref)
        except Exception:
            model_load_failed(deployment_id, ref.id)
            raise
        model_loaded(deployment_id, ref.id, time.perf_counter() - started)
        with session_scope(self._store_url) as session:
            baseline = session.get(BaselineRow, (deployment_id, ref.version))
            bounds = boundaries_from_baseline(None if baseline is None else baseline.baseline)
            sample = list((baseline.baseline or {}).get("sample") or []) if baseline is not None else []
        log.info("loaded model %s for deployment %s", ref.id, deployment_id)
        return LoadedModel(
            deployment_id=deployment_id,
            info=info,
            model=model,
            status=status,
            settings=settings,
            feature_types=signature_types(info),
            default_boundaries=bounds,
            explainer=ExplainerSlot(sample[:BACKGROUND_SAMPLE_ROWS]),
        )

    def refresh(self) -> None:
        """Compare cached versions with the store and swap in any that changed."""
        ids = list(self._models)
        if not ids:
            return
        with session_scope(self._store_url) as session:
            rows = {
                r.id: (r.registered_model_name, r.model_version, r.status, with_defaults(r.settings))
                for r in session.scalars(select(DeploymentRow).where(DeploymentRow.id.in_(ids)))
            }
        for deployment_id in ids:
            cached = self._models[deployment_id]
            current = rows.get(deployment_id)
            if current is None:
                self._models.pop(deployment_id, None)
                continue
            name, version, status, settings = current
            if (name, version) != (cached.info.ref.name, cached.version):
                # Load first, publish after: requests keep using the old model meanwhile.
                ref = ModelRef(name, version)
                try:
                    self._models[deployment_id] = self._load(deployment_id, ref, status, settings)
                    model_swapped(deployment_id)
                except Exception:
                    # Keep serving the old model and retry next time; one deployment's bad
                    # model must not hold back the others' swaps.
                    log.exception(
                        "loading %s for deployment %s failed; still serving %s",
                        ref.id,
                        deployment_id,
                        cached.info.ref.id,
                    )
            elif status != cached.status or settings != cached.settings:
                # Same model, new status or settings: republish without reloading anything.
                self._models[deployment_id] = replace(cached, status=status, settings=settings)

    def _watch(self) -> None:
        if self._warming.is_set():
            try:
                log.info("warmed %d deployment models", self.warm())
            except Exception:
                log.exception("warming the model cache failed; models load on first request")
            finally:
                _freeze_heap()
                self._warming.clear()
        away = False  # the store is unreachable: said once, and once more when it answers again
        while not self._stop.wait(self._refresh_interval_s):
            try:
                self.refresh()
            except Exception as exc:  # keep serving the old models if the store or registry hiccups
                if not store_unreachable(exc):
                    log.exception("model cache refresh failed; will retry")
                elif not away:
                    away = True
                    log.warning(
                        "model cache: cannot reach the MLOps store (%s): %s; keeping the %d loaded "
                        "models and retrying every %g s",
                        describe_store(self._store_url),
                        unreachable_reason(exc),
                        len(self._models),
                        self._refresh_interval_s,
                    )
                continue
            if away:
                away = False
                log.warning("model cache: the MLOps store answers again; following its changes")


def _freeze_heap() -> None:
    """Exempt what start-up built (modules, the loaded models) from the cyclic garbage collector.

    A server process holds millions of long-lived objects (MLflow, scikit-learn,
    pandas, the models); each full collection walks all of them while holding
    the GIL, which showed up as 200 ms stalls in the 99th latency percentile.
    Frozen objects are never scanned; what requests allocate later is collected
    as usual.
    """
    gc.collect()
    gc.freeze()
