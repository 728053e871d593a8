"""Run the project's DAGs in-process with ``dag.test()`` and read what they left behind.

Used by the demo and the integration tests, never by tasks: it reads Airflow's
metadata DB (XComs, Asset events), which tasks may not touch in Airflow 3.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import datetime
from pathlib import Path
from typing import Any


class DagRunFailed(RuntimeError):
    pass


def dags_folder() -> Path:
    return Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or Path.cwd() / "dags")


def load_dag(dag_id: str, folder: Path | None = None) -> Any:
    """Import ``<dags folder>/<dag_id>.py`` and return its ``dag`` object."""
    path = (folder or dags_folder()) / f"{dag_id}.py"
    if not path.exists():
        raise FileNotFoundError(f"no DAG file {path} (is AIRFLOW__CORE__DAGS_FOLDER right?)")
    spec = importlib.util.spec_from_file_location(f"mlops_dag_{dag_id}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run_dag(dag_id: str, conf: dict[str, Any] | None = None, *, logical_date: datetime | None = None) -> Any:
    """One DAG run through ``dag.test()``; raises :class:`DagRunFailed` unless it succeeded."""
    dag = load_dag(dag_id)
    kwargs: dict[str, Any] = {"run_conf": conf or {}}
    if logical_date is not None:
        kwargs["logical_date"] = logical_date
    run = dag.test(**kwargs)
    if run is None or str(run.state) != "success":
        failed = [ti.task_id for ti in run.get_task_instances() if str(ti.state) != "success"] if run else []
        raise DagRunFailed(
            f"{dag_id} run ended {getattr(run, 'state', None)}; tasks not successful: {failed}"
        )
    return run


def xcom_result(run: Any, task_id: str) -> list[Any]:
    """The return values of a task in a run (one per map index, in order)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows: list[Any] = session.scalars(  # type: ignore[assignment]
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        ).all()
        rows = sorted(rows, key=lambda r: r.map_index)
        return [XComModel.deserialize_value(r) for r in rows]


def asset_events(name: str, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Extras of the events of the Asset named ``name``, oldest first (optionally only after ``since``)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == name)
            .order_by(AssetEvent.id)
        )
        if since is not None:
            query = query.where(AssetEvent.timestamp >= since)
        return [dict(e.extra or {}) for e in session.scalars(query)]
