"""The model cache against a real store and real MLflow models, with a loader that can be held back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from sqlalchemy import update

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment, DeploymentNotFound, ModelRef
from airflow_mlops.registry import load_model
from airflow_mlops.serving.model_cache import ModelCache
from airflow_mlops.store import DeploymentRow, session_scope

if TYPE_CHECKING:
    from conftest import RegisteredModels


class GatedLoader:
    """Loads from the real registry; counts loads, and waits for ``gate`` before each one."""

    def __init__(self) -> None:
        self.loads: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_for: set[str] = set()

    def __call__(self, ref: ModelRef) -> Any:
        self.loads.append(ref.id)
        self.entered.set()
        assert self.gate.wait(30), "test never opened the gate"
        if ref.id in self.fail_for:
            raise OSError(f"artifact store unreachable for {ref.id}")
        settings = get_settings()
        return load_model(
            ref.uri, tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
        )


@pytest.fixture
def loader() -> GatedLoader:
    return GatedLoader()


@pytest.fixture
def cache(models: RegisteredModels, loader: GatedLoader) -> Iterator[ModelCache]:
    # The first get() starts the watcher; an interval of an hour keeps it out of the way, so each
    # test decides when a refresh happens by calling refresh() itself.
    cache = ModelCache(get_settings().store_url, loader, refresh_interval_s=3600)
    yield cache
    loader.gate.set()
    cache.stop()


def _deploy(models: RegisteredModels, label: str = "churn") -> Deployment:
    return Deployment.create_from_registered_model_version(models.churn_v1, label)


def test_get_loads_a_model_once(cache: ModelCache, loader: GatedLoader, models: RegisteredModels) -> None:
    d = _deploy(models)
    first = cache.get(d.id)
    assert cache.get(d.id) is first
    assert loader.loads == ["churn/1"]
    assert (first.deployment_id, first.version, first.status) == (d.id, "1", "active")
    assert first.info.ref == ModelRef("churn", "1")
    x = models.train[first.info.features].head(5)
    proba = first.model.predict_proba(x)
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)

    cache.refresh()  # nothing changed in the store: no reload
    assert cache.get(d.id) is first
    assert loader.loads == ["churn/1"]


def test_concurrent_first_gets_load_once(
    cache: ModelCache, loader: GatedLoader, models: RegisteredModels
) -> None:
    d = _deploy(models)
    loader.gate.clear()
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(d.id))) for _ in range(4)]
    for t in threads:
        t.start()
    assert loader.entered.wait(10)
    loader.gate.set()
    for t in threads:
        t.join(10)
    assert len(results) == 4
    assert all(r is results[0] for r in results)
    assert loader.loads == ["churn/1"]


def test_get_unknown_deployment(cache: ModelCache, loader: GatedLoader) -> None:
    with pytest.raises(DeploymentNotFound, match="'missing'"):
        cache.get("missing")
    assert loader.loads == []


def test_refresh_publishes_a_new_version_only_after_it_is_loaded(
    cache: ModelCache, loader: GatedLoader, models: RegisteredModels
) -> None:
    d = _deploy(models)
    old = cache.get(d.id)
    d.replace_model(models.churn_v2, "SCHEDULED_REFRESH")

    loader.gate.clear()
    loader.entered.clear()
    refresher = threading.Thread(target=cache.refresh)
    refresher.start()
    try:
        assert loader.entered.wait(10), "refresh did not start loading churn/2"
        # A request arriving during the slow load gets the old model at once.
        started = time.monotonic()
        during = cache.get(d.id)
        assert time.monotonic() - started < 0.5
        assert during is old
        assert during.version == "1"
    finally:
        loader.gate.set()
        refresher.join(30)
    assert not refresher.is_alive()

    new = cache.get(d.id)
    assert new.version == "2"
    assert new.info.family == "random_forest"
    assert loader.loads == ["churn/1", "churn/2"]
    # A request still holding the old model finishes on it.
    x = models.train[old.info.features].head(3)
    assert old.model.predict_proba(x).shape == (3, 2)


def test_refresh_follows_a_status_change_without_reloading(
    cache: ModelCache, loader: GatedLoader, models: RegisteredModels
) -> None:
    d = _deploy(models)
    before = cache.get(d.id)
    with session_scope(get_settings().store_url) as session:
        session.execute(update(DeploymentRow).where(DeploymentRow.id == d.id).values(status="inactive"))
    cache.refresh()
    after = cache.get(d.id)
    assert after.status == "inactive"
    assert after.model is before.model
    assert loader.loads == ["churn/1"]


def test_a_deleted_deployment_leaves_the_cache(cache: ModelCache, models: RegisteredModels) -> None:
    gone, kept = _deploy(models, "gone"), _deploy(models, "kept")
    cache.get(gone.id)
    kept_model = cache.get(kept.id)
    with session_scope(get_settings().store_url) as session:
        session.delete(session.get(DeploymentRow, gone.id))
    cache.get(gone.id)  # still cached until the next refresh
    cache.refresh()
    with pytest.raises(DeploymentNotFound):
        cache.get(gone.id)
    assert cache.get(kept.id) is kept_model


def test_a_failing_load_keeps_the_old_model_and_does_not_block_other_deployments(
    cache: ModelCache, loader: GatedLoader, models: RegisteredModels
) -> None:
    stuck = _deploy(models, "stuck")  # churn/1, to move to churn/2 whose load fails
    moving = Deployment.create_from_registered_model_version(models.churn_v2, "moving")
    cache.get(stuck.id)
    cache.get(moving.id)
    stuck.replace_model(models.churn_v2, "OTHER")
    moving.replace_model(models.churn_v1, "OTHER")
    loader.fail_for = {"churn/2"}

    cache.refresh()
    assert cache.get(stuck.id).info.ref.id == "churn/1"  # still serving the old model
    assert cache.get(moving.id).info.ref.id == "churn/1"  # not held back by the other's failure

    loader.fail_for = set()
    cache.refresh()  # the next pass retries
    assert cache.get(stuck.id).info.ref.id == "churn/2"


def test_the_first_get_starts_the_watcher(loader: GatedLoader, models: RegisteredModels) -> None:
    """Mounted in Airflow the app's lifespan never runs; the first request must start watching."""
    watched = ModelCache(get_settings().store_url, loader, refresh_interval_s=0.05)
    d = _deploy(models)
    try:
        assert watched.get(d.id).version == "1"
        d.replace_model(models.churn_v2, "ACCURACY")
        deadline = time.monotonic() + 5
        while watched.get(d.id).version != "2" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watched.get(d.id).version == "2"
    finally:
        watched.stop()
    # Stopped: later replacements are no longer followed.
    d.replace_model(models.churn_v1, "OTHER")
    time.sleep(0.3)
    assert watched.get(d.id).version == "2"
    assert loader.loads == ["churn/1", "churn/2"]


def test_a_warm_start_loads_every_active_deployment_before_the_first_request(
    models: RegisteredModels, loader: GatedLoader
) -> None:
    active = Deployment.create_from_registered_model_version(models.churn_v1, "a")
    other = Deployment.create_from_registered_model_version(models.churn_v2, "b")
    inactive = Deployment.create_from_registered_model_version(models.charges, "c")
    inactive.deactivate()
    loader.fail_for.add(models.churn_v2)  # one broken model must not keep the others cold
    loader.gate.clear()
    cache = ModelCache(get_settings().store_url, loader, refresh_interval_s=3600)
    try:
        cache.start(warm=True)
        assert cache.warming, "the server reports warming until the loads are done"
        loader.gate.set()
        deadline = time.monotonic() + 30
        while cache.warming and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not cache.warming
        assert sorted(loader.loads) == sorted([models.churn_v1, models.churn_v2])
        assert cache.get(active.id).version == "1"
        assert loader.loads.count(models.churn_v1) == 1, "the first request is answered from memory"
        with pytest.raises(OSError, match="unreachable"):
            cache.get(other.id)
    finally:
        loader.gate.set()
        cache.stop()
