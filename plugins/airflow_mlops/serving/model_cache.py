"""Models in memory per (deployment, version), swapped atomically when the store says so.

A request takes one :class:`LoadedModel` at its start and uses it to the end,
so a replacement never changes the model under a request in flight. New
versions are loaded by a background thread and only then published, so no
request waits for a load and none fails during a replacement.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from airflow_mlops.deployments import DeploymentNotFound, ModelRef, ModelVersionInfo, model_version_info
from airflow_mlops.store import DeploymentRow, session_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    deployment_id: str
    info: ModelVersionInfo
    model: Any
    status: str

    @property
    def version(self) -> str:
        return self.info.ref.version


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

    def start(self) -> None:
        with self._load_lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="mlops-model-cache", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

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
                name, version, status = self._current(deployment_id)
                loaded = self._load(deployment_id, ModelRef(name, version), status)
                self._models[deployment_id] = loaded
        return loaded

    def _current(self, deployment_id: str) -> tuple[str, str, str]:
        with session_scope(self._store_url) as session:
            row = session.get(DeploymentRow, deployment_id)
            if row is None:
                raise DeploymentNotFound(f"no deployment with id {deployment_id!r}")
            return row.registered_model_name, row.model_version, row.status

    def _load(self, deployment_id: str, ref: ModelRef, status: str) -> LoadedModel:
        info = model_version_info(ref.id)
        model = self._loader(ref)
        log.info("loaded model %s for deployment %s", ref.id, deployment_id)
        return LoadedModel(deployment_id=deployment_id, info=info, model=model, status=status)

    def refresh(self) -> None:
        """Compare cached versions with the store and swap in any that changed."""
        ids = list(self._models)
        if not ids:
            return
        with session_scope(self._store_url) as session:
            rows = {
                r.id: (r.registered_model_name, r.model_version, r.status)
                for r in session.scalars(select(DeploymentRow).where(DeploymentRow.id.in_(ids)))
            }
        for deployment_id in ids:
            cached = self._models[deployment_id]
            current = rows.get(deployment_id)
            if current is None:
                self._models.pop(deployment_id, None)
                continue
            name, version, status = current
            if (name, version) != (cached.info.ref.name, cached.version):
                # Load first, publish after: requests keep using the old model meanwhile.
                ref = ModelRef(name, version)
                try:
                    self._models[deployment_id] = self._load(deployment_id, ref, status)
                except Exception:
                    # Keep serving the old model and retry next time; one deployment's bad
                    # model must not hold back the others' swaps.
                    log.exception(
                        "loading %s for deployment %s failed; still serving %s",
                        ref.id,
                        deployment_id,
                        cached.info.ref.id,
                    )
            elif status != cached.status:
                self._models[deployment_id] = LoadedModel(deployment_id, cached.info, cached.model, status)

    def _watch(self) -> None:
        while not self._stop.wait(self._refresh_interval_s):
            try:
                self.refresh()
            except Exception:  # keep serving the old models if the store or registry hiccups
                log.exception("model cache refresh failed; will retry")
