"""``/api/v2/deployments/{id}/fairness/`` and ``…/fairnessScoresOverTime/``: bias and fairness reads.

``fairnessScoresOverTime/`` is DataRobot's read (what its client's
``Deployment.get_fairness_scores_over_time`` parses): one protected feature, one
metric, a ``summary`` and ``buckets`` of per-group scores (``absoluteValue`` the
metric, ``value`` relative to the most favoured group). DataRobot's client sends
its query parameters in snake_case (``protected_feature``, ``bucket_size``…),
its REST documentation in camelCase: both are accepted. ``fairness/`` is this
project's: every protected feature in every metric of the set over one window,
with ``passed`` per group and the health they give. Both need the USER role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api import monitoring_json as dr
from airflow_mlops.api import schemas
from airflow_mlops.api.auth import Caller, authorized
from airflow_mlops.api.errors import ERRORS
from airflow_mlops.config import Settings
from airflow_mlops.deployments import SettingsError

DeploymentId = Annotated[
    str, Path(pattern=schemas.ID_PATTERN, description="A deployment id (24 hex digits).")
]
TimeQuery = Annotated[
    str | None, Query(max_length=64, description="Top of an hour, ISO-8601 (UTC if no offset).")
]
NameQuery = Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")]
BucketQuery = Annotated[str | None, Query(max_length=8, description="PT1H, P1D (default), P7D or P1M.")]
ModelsQuery = Annotated[list[str] | None, Query(max_length=8)]


def _either(camel: Any, snake: Any, name: str) -> Any:
    if camel is not None and snake is not None and camel != snake:
        raise SettingsError(f"{name} is given twice with different values ({camel!r} and {snake!r})")
    return camel if camel is not None else snake


def build_fairness_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/api/v2/deployments", tags=["monitoring"], responses=ERRORS)
    url = settings.store_url

    async def read(deployment_id: str, principal: Any, fn: Any) -> Any:
        deployment = await run_in_threadpool(authorized, url, deployment_id, principal, "read")
        try:
            return await run_in_threadpool(fn, deployment)
        except (ValueError, KeyError, LookupError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise SettingsError(str(message)) from exc

    @router.get(
        "/{deployment_id}/fairnessScoresOverTime/",
        summary="One protected feature's group scores in one fairness metric, per bucket",
    )
    async def fairness_over_time(
        deployment_id: DeploymentId,
        principal: Caller,
        start: TimeQuery = None,
        end: TimeQuery = None,
        bucketSize: BucketQuery = None,
        bucket_size: BucketQuery = None,
        modelId: ModelsQuery = None,
        model_id: ModelsQuery = None,
        protectedFeature: NameQuery = None,
        protected_feature: NameQuery = None,
        fairnessMetric: NameQuery = None,
        fairness_metric: NameQuery = None,
    ) -> dict[str, Any]:
        """``summary`` (the window) and ``buckets``; each score: ``label``, ``absoluteValue``, ``value``
        (relative to the most favoured group), ``sampleSize``, ``passed`` against ``fairnessThreshold``."""
        size = _either(bucketSize, bucket_size, "bucketSize") or "P1D"
        model = dr.one_model(_either(modelId, model_id, "modelId"))
        feature = _either(protectedFeature, protected_feature, "protectedFeature")
        metric = _either(fairnessMetric, fairness_metric, "fairnessMetric")
        result = await read(
            deployment_id,
            principal,
            lambda d: d.get_fairness_scores_over_time(start, end, size, model, feature, metric),
        )
        return dict(result.to_json())

    @router.get(
        "/{deployment_id}/fairness/",
        summary="Every protected feature's group scores over a window, pass/fail and the fairness health",
    )
    async def fairness(
        deployment_id: DeploymentId,
        principal: Caller,
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelsQuery = None,
        protectedFeature: NameQuery = None,
        fairnessMetric: NameQuery = None,
    ) -> dict[str, Any]:
        """Per feature and metric: ``privilegedClass`` and per-group ``scores``; ``status`` and ``message``."""
        model = dr.one_model(modelId)
        result = await read(
            deployment_id,
            principal,
            lambda d: d.get_fairness(model, start, end, protectedFeature, fairnessMetric),
        )
        return dict(result.to_json())

    return router
