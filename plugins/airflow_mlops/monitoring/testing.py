"""A monitored deployment straight into the store, for tests and benchmarks of the monitoring code.

Folding, drift, accuracy and health read two kinds of store rows: the deployment
(its model version, target name and type, settings) and the baselines of its model
versions. :func:`insert_deployment_with_baseline` writes exactly those rows, from a
:class:`Baseline` the caller built, so that monitoring can be exercised on data the
caller controls without MLflow: no registered model, no model history, owners or
audit record, which the real lifecycle
(``Deployment.create_from_registered_model_version``) writes.

Why here: the monitoring tests and the drift benchmark (``bench/drift_vs_evidently.py``,
which cannot import from ``tests/``) both need it, so it is package code. It sits in
``monitoring`` because it needs only the store and :class:`Baseline`; ``deployments``
is a higher layer, which ``monitoring`` must not import. It is not re-exported from
``airflow_mlops.monitoring`` (as ``numpy.testing`` is not from ``numpy``): production
code makes deployments through ``deployments``, never through this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from airflow_mlops.monitoring.baseline import Baseline
from airflow_mlops.store import BaselineRow, DeploymentRow, session_scope

__all__ = ["insert_deployment_with_baseline"]


def insert_deployment_with_baseline(
    store_url: str,
    deployment_id: str,
    baseline: Baseline,
    *,
    model_version: str = "1",
    baseline_versions: Iterable[str] | None = None,
    label: str | None = None,
    registered_model_name: str = "model",
    target_name: str | None = None,
    target_type: str = "Binary",
    settings: dict[str, Any] | None = None,
) -> None:
    """Insert deployment ``deployment_id`` serving ``model_version``, with ``baseline`` for each version.

    ``baseline_versions`` are the model versions that get ``baseline`` (default: only
    ``model_version``); ``label`` defaults to the id; ``target_name`` to the name of the
    baseline's prediction column (what drift of the target is keyed by), else ``"target"``;
    ``settings`` are the deployment's stored settings (default: none, so every default
    applies). The store must be migrated; an id already there raises the store's
    integrity error.
    """
    if target_name is None:
        target_name = baseline.prediction.name if baseline.prediction is not None else "target"
    versions = (model_version,) if baseline_versions is None else tuple(baseline_versions)
    now = datetime.now(UTC)
    with session_scope(store_url) as session:
        session.add(
            DeploymentRow(
                id=deployment_id,
                label=deployment_id if label is None else label,
                registered_model_name=registered_model_name,
                model_version=model_version,
                target_name=target_name,
                target_type=target_type,
                settings={} if settings is None else settings,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()  # the baselines' foreign key needs the deployment first
        stored = baseline.to_dict()
        for version in versions:
            session.add(
                BaselineRow(
                    deployment_id=deployment_id, model_version=version, baseline=stored, created_at=now
                )
            )
