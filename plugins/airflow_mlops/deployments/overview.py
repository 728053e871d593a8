"""What a console shows beside a deployment's own fields: model lineage, prediction usage, latest report.

These come from three other places (the registry's tags and run, the folded
service buckets, the monitoring passes' health rows), so they are gathered here
for a whole page of deployments at once: usage and reports in a fixed number of
queries whatever the page's size, lineage cached per model version
(:mod:`airflow_mlops.registry.lineage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from airflow_mlops.monitoring.reads.usage import PredictionUsage, prediction_usage
from airflow_mlops.registry.lineage import ModelLineage, model_lineages
from airflow_mlops.store import HealthRow, session_scope


@dataclass(frozen=True)
class Report:
    """An Evidently report of a monitoring pass: its MLflow artifact URI and when the pass ran."""

    uri: str
    created_at: datetime


@dataclass(frozen=True)
class DeploymentOverview:
    lineage: ModelLineage
    prediction_usage: PredictionUsage
    latest_report: Report | None


def latest_reports(store_url: str, deployment_ids: Iterable[str]) -> dict[str, Report]:
    """The newest monitoring pass's report of each deployment that has one (absent: none)."""
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    has_report = HealthRow.details["report_uri"].as_string().is_not(None)
    newest = (
        select(func.max(HealthRow.id))
        .where(HealthRow.deployment_id.in_(ids), HealthRow.kind == "drift", has_report)
        .group_by(HealthRow.deployment_id)
    )
    with session_scope(store_url) as session:
        rows = session.execute(
            select(HealthRow.deployment_id, HealthRow.details, HealthRow.evaluated_at).where(
                HealthRow.id.in_(newest)
            )
        )
        return {
            deployment_id: Report(str(details["report_uri"]), evaluated_at)
            for deployment_id, details, evaluated_at in rows
        }


def deployment_overviews(deployments: Sequence[Any], store_url: str) -> dict[str, DeploymentOverview]:
    """Each deployment's overview by id (``deployments``: objects with ``id`` and ``model["id"]``)."""
    ids = [d.id for d in deployments]
    usage = prediction_usage(store_url, ids)
    reports = latest_reports(store_url, ids)
    lineages = model_lineages({d.model["id"] for d in deployments})
    return {
        d.id: DeploymentOverview(lineages[d.model["id"]], usage[d.id], reports.get(d.id)) for d in deployments
    }
