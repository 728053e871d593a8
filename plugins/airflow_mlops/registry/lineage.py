"""Where a registered model version came from: dataset snapshot, training run, sweep, MLflow links.

The refit step writes the lineage as version tags (``dataset``, ``dataset_version``,
``sweep_parent_run_id``; see :func:`airflow_mlops.training.refit_and_register`)
and the version's run is the run that fitted it. A console shows this next to
every deployment, so a list page would ask MLflow once per deployment: the
answer is cached per version (the tags and run of a version do not change).
A registry that cannot be reached in :data:`LINEAGE_TIMEOUT_S` gives an empty
lineage, not an error or a wait: a deployment list must not fail or hang because
MLflow is down; that answer is not cached.
MLflow UI links are given only for an http(s) tracking server, the only kind a
browser can open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from mlflow.tracking import MlflowClient

from airflow_mlops.config import get_settings
from airflow_mlops.registry.model_ref import ModelRef

#: Versions whose lineage is kept in memory (a few hundred bytes each).
CACHE_SIZE = 4096
#: Longest a request waits for the registry before answering without lineage.
LINEAGE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ModelLineage:
    """A version's lineage; every field None when the registry does not know it."""

    dataset_name: str | None = None
    dataset_version: str | None = None
    training_run_id: str | None = None
    sweep_parent_run_id: str | None = None
    mlflow_model_url: str | None = None
    mlflow_run_url: str | None = None


_cache: dict[tuple[str, str, str], ModelLineage] = {}
_pending: dict[tuple[str, str, str], Future[ModelLineage]] = {}
_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlops-lineage")


def _ui_base(tracking_uri: str) -> str | None:
    return tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else None


def mlflow_model_url(tracking_uri: str, name: str, version: str) -> str | None:
    """The MLflow UI page of a registered version (None: the tracking store has no UI)."""
    base = _ui_base(tracking_uri)
    return f"{base}/#/models/{quote(name, safe='')}/versions/{quote(version, safe='')}" if base else None


def mlflow_run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The MLflow UI page of a run (None: the tracking store has no UI)."""
    base = _ui_base(tracking_uri)
    return (
        f"{base}/#/experiments/{quote(experiment_id, safe='')}/runs/{quote(run_id, safe='')}"
        if base
        else None
    )


def _read(ref: ModelRef, tracking_uri: str, registry_uri: str) -> ModelLineage:
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    mv = client.get_model_version(ref.name, ref.version)
    tags = dict(mv.tags or {})
    run_url = None
    if _ui_base(tracking_uri) is not None and mv.run_id:
        experiment_id = str(client.get_run(mv.run_id).info.experiment_id)
        run_url = mlflow_run_url(tracking_uri, experiment_id, mv.run_id)
    return ModelLineage(
        dataset_name=tags.get("dataset"),
        dataset_version=tags.get("dataset_version"),
        training_run_id=mv.run_id or None,
        sweep_parent_run_id=tags.get("sweep_parent_run_id") or None,
        mlflow_model_url=mlflow_model_url(tracking_uri, ref.name, ref.version),
        mlflow_run_url=run_url,
    )


def _store(key: tuple[str, str, str], future: Future[ModelLineage]) -> None:
    """Keep a finished read (even one the caller stopped waiting for); failures are not kept."""
    with _lock:
        _pending.pop(key, None)
        if future.cancelled() or future.exception() is not None:
            return
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = future.result()


def model_lineages(
    model_ids: Iterable[str],
    *,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    timeout_s: float = LINEAGE_TIMEOUT_S,
) -> dict[str, ModelLineage]:
    """The lineage of each ``'<name>/<version>'``, waiting at most ``timeout_s`` for all of them.

    Versions not in the cache are read in parallel; one the registry does not
    answer in time (MLflow's client retries a dead server for minutes) or
    answers with an error gets an empty lineage now, and a late answer is
    cached for the next call.
    """
    if tracking_uri is None or registry_uri is None:
        settings = get_settings()
        tracking_uri = tracking_uri or settings.mlflow_tracking_uri
        registry_uri = registry_uri or settings.mlflow_registry_uri
    refs = {model_id: ModelRef.parse(model_id) for model_id in model_ids}
    found: dict[str, ModelLineage] = {}
    waiting: dict[str, Future[ModelLineage]] = {}
    started: list[tuple[tuple[str, str, str], Future[ModelLineage]]] = []
    with _lock:
        for model_id, ref in refs.items():
            key = (ref.id, tracking_uri, registry_uri)
            if key in _cache:
                found[model_id] = _cache[key]
                continue
            future = _pending.get(key)
            if future is None:
                future = _pool.submit(_read, ref, tracking_uri, registry_uri)
                _pending[key] = future
                started.append((key, future))
            waiting[model_id] = future
    # Outside the lock: a read already done runs its callback here, and the callback takes the lock.
    for key, future in started:
        future.add_done_callback(partial(_store, key))
    wait(waiting.values(), timeout=timeout_s)
    for model_id, future in waiting.items():
        ok = future.done() and not future.cancelled() and future.exception() is None
        found[model_id] = future.result() if ok else ModelLineage()
    return found


def model_lineage(
    model_id: str, *, tracking_uri: str | None = None, registry_uri: str | None = None
) -> ModelLineage:
    """The lineage of ``'<name>/<version>'`` (empty when the registry cannot answer in time)."""
    return model_lineages([model_id], tracking_uri=tracking_uri, registry_uri=registry_uri)[model_id]
