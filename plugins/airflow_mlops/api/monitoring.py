"""``/api/v2/deployments/{id}/…`` monitoring reads and actuals, in DataRobot's shape.

Reads need the USER role (``read``); submitting actuals changes what accuracy
says, so it needs ``update`` (OWNER). Bad arguments (a time that is not the top
of an hour, an unknown metric or bucket size) answer 422 naming the value and
the valid ones. The answers are what the official ``datarobot`` client's
``Deployment.get_service_stats()``, ``get_feature_drift()``, ``get_accuracy()``…
convert (see :mod:`airflow_mlops.api.monitoring_json`); parameters it may send
that we cannot honour (segments, several models, per-class accuracy) are 422s
naming them, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from airflow_mlops.api import monitoring_json as dr
from airflow_mlops.api import schemas
from airflow_mlops.api.auth import Caller, authorized
from airflow_mlops.api.errors import ERRORS, error
from airflow_mlops.api.paging import page
from airflow_mlops.api.status import accepted
from airflow_mlops.config import Settings
from airflow_mlops.deployments import Deployment, SettingsError
from airflow_mlops.security import Principal

DeploymentId = Annotated[
    str, Path(pattern=schemas.ID_PATTERN, description="A deployment id (24 hex digits).")
]
TimeQuery = Annotated[
    str | None, Query(max_length=64, description="Top of an hour, ISO-8601 (UTC if no offset).")
]
ModelQuery = Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")]
#: The client sends ``modelId`` once, or repeated for several models (which we refuse: one at a time).
ModelsQuery = Annotated[list[str] | None, Query(max_length=8)]
SegmentQuery = Annotated[
    str | None, Query(max_length=256, description="Not supported (422): segment analysis is not kept.")
]
TargetClassQuery = Annotated[
    list[str] | None, Query(max_length=100, description="Not supported (422): no per-class accuracy.")
]
MetricQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]
BucketQuery = Annotated[str, Query(max_length=8, description="PT1H, P1D, P7D or P1M.")]
FeatureQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]*$",
        description="A feature of the model's baseline, or the target's name (the predictions).",
    ),
]


class ActualIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    association_id: str = Field(alias="associationId", min_length=1, max_length=128, pattern=r"^[^\x00]*$")
    actual_value: float | str = Field(alias="actualValue")
    timestamp: str | None = Field(default=None, max_length=64)
    was_acted_on: bool | None = Field(default=None, alias="wasActedOn")


class ActualsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[ActualIn] = Field(min_length=1, max_length=10_000)


def _drift_over_time(name: str, result: Any) -> dict[str, Any]:
    """The JSON of a ``get_drift_over_time`` answer (an ``OverTime`` of drift scores)."""
    return {
        "featureName": name,
        "metric": result.metric,
        "bucketSize": result.bucket_size,
        "modelId": result.model_id,
        "period": result.period,
        "buckets": [
            {"period": b["period"], "driftScore": b["value"], "sampleSize": b["sampleSize"]}
            for b in result.buckets
        ],
    }


def build_monitoring_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/api/v2/deployments", tags=["monitoring"], responses=ERRORS)
    url = settings.store_url

    async def call(
        deployment_id: str, principal: Principal, action: str, fn: Callable[[Deployment], Any]
    ) -> Any:
        deployment = await run_in_threadpool(authorized, url, deployment_id, principal, action)
        try:
            return await run_in_threadpool(fn, deployment)
        except (ValueError, KeyError, LookupError) as exc:
            # str() of a KeyError is the repr of its message: take the message itself.
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise SettingsError(str(message)) from exc

    @router.get("/{deployment_id}/serviceStats/", summary="Every service stat over a window")
    async def service_stats(
        deployment_id: DeploymentId,
        principal: Caller,
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelQuery = None,
        executionTimeQuantile: float = Query(default=0.5, ge=0, le=1),
        responseTimeQuantile: float = Query(default=0.5, ge=0, le=1),
        slowRequestsThreshold: float | None = Query(default=None, description="Only 1000 (ms)."),
        segmentAttribute: SegmentQuery = None,
        segmentValue: SegmentQuery = None,
    ) -> dict[str, Any]:
        dr.no_segments(segmentAttribute, segmentValue)
        dr.slow_threshold("slowRequestsThreshold", slowRequestsThreshold)
        stats = await call(
            deployment_id,
            principal,
            "read",
            lambda d: d.get_service_stats(modelId, start, end, executionTimeQuantile, responseTimeQuantile),
        )
        return {
            "modelId": stats.model_id,
            "period": stats.period,
            "metrics": dr.service_metrics(stats.metrics),
            **dr.segment_keys(),
        }

    @router.get("/{deployment_id}/serviceStatsOverTime/", summary="One service stat per bucket")
    async def service_stats_over_time(
        deployment_id: DeploymentId,
        principal: Caller,
        metric: str = Query(default="totalPredictions", max_length=64),
        bucketSize: BucketQuery = "PT1H",
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelsQuery = None,
        quantile: float = Query(default=0.5, ge=0, le=1),
        threshold: float | None = Query(default=None, description="slowRequests' threshold: only 1000 (ms)."),
        segmentAttribute: SegmentQuery = None,
        segmentValue: SegmentQuery = None,
    ) -> dict[str, Any]:
        """Each bucket's value (``None``: no request in it), and ``summary``: the whole window's value."""
        dr.no_segments(segmentAttribute, segmentValue)
        dr.slow_threshold("threshold", threshold)
        model = dr.one_model(modelId)

        def read(d: Deployment) -> tuple[Any, Any]:
            result = d.get_service_stats_over_time(metric, bucketSize, model, start, end, quantile)
            return result, d.get_service_stats(model, start, end, quantile, quantile).metrics[result.metric]

        result, summary = await call(deployment_id, principal, "read", read)
        return dr.over_time(result, summary)

    @router.get("/{deployment_id}/targetDrift/", summary="Drift of the predictions")
    async def target_drift(
        deployment_id: DeploymentId,
        principal: Caller,
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelQuery = None,
        metric: MetricQuery = None,
        segmentAttribute: SegmentQuery = None,
        segmentValue: SegmentQuery = None,
    ) -> dict[str, Any]:
        dr.no_segments(segmentAttribute, segmentValue)
        drift = await call(
            deployment_id, principal, "read", lambda d: d.get_target_drift(modelId, start, end, metric)
        )
        return {
            "modelId": drift.model_id,
            "targetName": drift.target_name,
            "metric": drift.metric,
            "driftScore": drift.drift_score,
            "sampleSize": drift.sample_size,
            "baselineSampleSize": drift.baseline_sample_size,
            "period": drift.period,
            "trackingEnabled": drift.tracking_enabled,
            **dr.segment_keys(),
        }

    @router.get("/{deployment_id}/featureDrift/", summary="Drift per feature, with its importance")
    async def feature_drift(
        request: Request,
        deployment_id: DeploymentId,
        principal: Caller,
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelQuery = None,
        metric: MetricQuery = None,
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=100, ge=1, le=1000),
        segmentAttribute: SegmentQuery = None,
        segmentValue: SegmentQuery = None,
    ) -> dict[str, Any]:
        """A page of features, most important first; ``next`` links the following page (``None``: last)."""
        dr.no_segments(segmentAttribute, segmentValue)
        items = await call(
            deployment_id, principal, "read", lambda d: d.get_feature_drift(modelId, start, end, metric)
        )
        data = [
            {
                "name": f.name,
                "metric": f.metric,
                "driftScore": f.drift_score,
                "featureImpact": f.feature_impact,
                "sampleSize": f.sample_size,
                "baselineSampleSize": f.baseline_sample_size,
                "period": f.period,
                "modelId": f.model_id,
            }
            for f in items
        ]
        body = page(request, data, offset, limit)
        # Every item's period, metric and model are the window's: also at the top, where the client reads them.
        first = items[0] if items else None
        return {
            **body,
            "period": first.period if first else None,
            "metric": first.metric if first else metric,
            "modelId": first.model_id if first else modelId,
            **dr.segment_keys(),
        }

    @router.get(
        "/{deployment_id}/featureHistogram/",
        summary="A feature's histogram: the baseline's and the window's, on the baseline's bins",
    )
    async def feature_histogram(
        deployment_id: DeploymentId,
        principal: Caller,
        featureName: FeatureQuery,
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelQuery = None,
    ) -> dict[str, Any]:
        """Each bin's label, share of the baseline and of the window (``None`` for an empty window), and counts."""
        histogram = await call(
            deployment_id,
            principal,
            "read",
            lambda d: d.get_feature_histogram(featureName, modelId, start, end),
        )
        return {
            "featureName": histogram.feature_name,
            "featureType": histogram.kind,
            "modelId": histogram.model_id,
            "bins": histogram.bins,
            "sampleSize": histogram.sample_size,
            "baselineSampleSize": histogram.baseline_sample_size,
            "period": histogram.period,
        }

    @router.get(
        "/{deployment_id}/featureDriftOverTime/", summary="One feature's (or the target's) drift per bucket"
    )
    async def feature_drift_over_time(
        deployment_id: DeploymentId,
        principal: Caller,
        featureName: FeatureQuery,
        start: TimeQuery = None,
        end: TimeQuery = None,
        bucketSize: BucketQuery = "P1D",
        metric: MetricQuery = None,
        modelId: ModelQuery = None,
    ) -> dict[str, Any]:
        """Each bucket's drift score against the baseline (``None``: no rows in it) and its row count."""
        result = await call(
            deployment_id,
            principal,
            "read",
            lambda d: d.get_drift_over_time(featureName, metric, bucketSize, modelId, start, end),
        )
        return _drift_over_time(featureName, result)

    @router.get(
        "/{deployment_id}/targetDriftOverTime/", summary="The target's (predictions') drift per bucket"
    )
    async def target_drift_over_time(
        deployment_id: DeploymentId,
        principal: Caller,
        start: TimeQuery = None,
        end: TimeQuery = None,
        bucketSize: BucketQuery = "P1D",
        metric: MetricQuery = None,
        modelId: ModelQuery = None,
    ) -> dict[str, Any]:
        """``featureDriftOverTime/`` for the target, without knowing its name: the predictions' drift
        per bucket (``targetName`` says which), the Python ``get_drift_over_time(target_name, …)``."""

        def read(d: Deployment) -> tuple[str, Any]:
            target = d.model.get("target_name")
            if not target:
                raise LookupError(f"deployment {d.id} has no target name: there is no target drift to read")
            return target, d.get_drift_over_time(target, metric, bucketSize, modelId, start, end)

        target, result = await call(deployment_id, principal, "read", read)
        return {"targetName": target, **_drift_over_time(target, result)}

    @router.get("/{deployment_id}/accuracy/", summary="Every accuracy metric over a window")
    async def accuracy(
        deployment_id: DeploymentId,
        principal: Caller,
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelsQuery = None,
        metric: MetricQuery = None,
        baselineModelId: ModelQuery = None,
        targetClass: TargetClassQuery = None,
        segmentAttribute: SegmentQuery = None,
        segmentValue: SegmentQuery = None,
    ) -> dict[str, Any]:
        """``data``: one item per metric (value, holdout ``baselineValue``, ``percentChange``); ``metrics``
        the same keyed by name (the client's older shape); ``metric`` keeps one."""
        dr.no_segments(segmentAttribute, segmentValue)
        dr.refuse("targetClass", targetClass, "per-class accuracy is not kept; leave it out")
        dr.refuse(
            "baselineModelId",
            baselineModelId,
            "the baseline is the model's holdout score, recorded when it was registered; leave it out",
        )
        model = dr.one_model(modelId)
        result = await call(deployment_id, principal, "read", lambda d: d.get_accuracy(model, start, end))
        return dr.accuracy(result, metric)

    @router.get("/{deployment_id}/accuracyOverTime/", summary="One accuracy metric per bucket")
    async def accuracy_over_time(
        deployment_id: DeploymentId,
        principal: Caller,
        metric: MetricQuery = None,
        bucketSize: BucketQuery = "P1D",
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelsQuery = None,
        targetClass: TargetClassQuery = None,
        segmentAttribute: SegmentQuery = None,
        segmentValue: SegmentQuery = None,
    ) -> dict[str, Any]:
        """Each bucket's value and ``sampleSize``; ``summary``: the window's; ``baselines``: the holdout score."""
        dr.no_segments(segmentAttribute, segmentValue)
        dr.refuse("targetClass", targetClass, "per-class accuracy is not kept; leave it out")
        model = dr.one_model(modelId)

        def read(d: Deployment) -> tuple[Any, Any]:
            over = d.get_accuracy_over_time(metric, bucketSize, model, start, end)
            return over, d.get_accuracy(model, start, end)

        result, window = await call(deployment_id, principal, "read", read)
        return dr.accuracy_over_time(result, window)

    @router.get(
        "/{deployment_id}/predictionsVsActualsOverTime/",
        summary="Predicted against actual per bucket (means, and class counts for classification)",
    )
    async def predictions_vs_actuals_over_time(
        deployment_id: DeploymentId,
        principal: Caller,
        bucketSize: BucketQuery = "P1D",
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelsQuery = None,
        targetClass: TargetClassQuery = None,
        segmentAttribute: SegmentQuery = None,
        segmentValue: SegmentQuery = None,
    ) -> dict[str, Any]:
        """Per bucket: ``period``, ``modelId``, ``rowCountTotal``, ``rowCountWithActual``,
        ``meanPredictedValue``, ``meanActualValue`` (``None`` without joined actuals), and for
        classification ``predictedClassDistribution`` and ``actualClassDistribution``
        (``[{className, count}]``). ``summary`` sums the row counts; ``baselines`` is empty (no
        per-model training means are kept). No other top-level key: the official client's
        converter refuses any."""
        dr.no_segments(segmentAttribute, segmentValue)
        dr.refuse("targetClass", targetClass, "per-class predictions against actuals are not kept")
        model = dr.one_model(modelId)
        result = await call(
            deployment_id,
            principal,
            "read",
            lambda d: d.get_predictions_vs_actuals_over_time(bucketSize, model, start, end),
        )
        return dr.predictions_vs_actuals(result)

    @router.get(
        "/{deployment_id}/humilityStatsOverTime/",
        summary="Predictions flagged by the prediction warnings, per bucket",
    )
    async def humility_stats_over_time(
        deployment_id: DeploymentId,
        principal: Caller,
        bucketSize: BucketQuery = "P1D",
        start: TimeQuery = None,
        end: TimeQuery = None,
        modelId: ModelQuery = None,
    ) -> dict[str, Any]:
        """Per bucket: ``rowCount`` (rows checked: a regression deployment with warnings on),
        ``outlierPredictions`` and ``value``, the share flagged (``None`` when no row was checked).
        ``predictionWarningEnabled`` is the deployment's setting now."""

        def read(d: Deployment) -> tuple[Any, bool]:
            enabled = d.model["target_type"] == "Regression" and bool(
                d.settings["prediction_warning"]["enabled"]
            )
            return d.get_humility_stats_over_time(bucketSize, modelId, start, end), enabled

        result, enabled = await call(deployment_id, principal, "read", read)
        return {
            "bucketSize": result.bucket_size,
            "period": result.period,
            "modelId": result.model_id,
            "predictionWarningEnabled": enabled,
            "buckets": result.buckets,
        }

    @router.post(
        "/{deployment_id}/actuals/fromJSON/",
        status_code=202,
        summary="Submit actuals by association id",
        response_model=None,
        responses={202: {"description": "Stored; Location is a status that is already COMPLETED"}},
    )
    async def actuals(
        request: Request, deployment_id: DeploymentId, body: ActualsBody, principal: Caller
    ) -> JSONResponse:
        """Stored at once: the body counts them, and the ``Location`` the client polls answers
        ``200 COMPLETED`` with the same counts (DataRobot processes actuals asynchronously)."""
        rows = [a.model_dump(by_alias=False) for a in body.data]
        result = await call(deployment_id, principal, "update", lambda d: d.submit_actuals(rows))
        counts = {
            "received": result["received"],
            "stored": result["stored"],
            "replaced": result["replaced"],
            "ignoredAlreadyJoined": result["ignored_already_joined"],
            "unknownAssociationIds": result["unknown_association_ids"],
        }
        return accepted(request, result=counts, body=counts)

    @router.get(
        "/{deployment_id}/reports/latest/",
        summary="The latest monitoring pass's Evidently report (HTML)",
        response_model=None,
        # Errors are JSON (ApiError), so the route's class stays JSON; the report itself is HTML.
        responses={
            200: {"description": "The report", "content": {"text/html": {"schema": {"type": "string"}}}},
            404: error("No monitoring pass has written a report yet, or it is gone."),
        },
    )
    async def latest_report(deployment_id: DeploymentId, principal: Caller) -> Response:
        """The HTML, sandboxed (it runs as an opaque origin: its scripts never see the caller's session)."""
        from airflow_mlops.monitoring.report import read_report

        report = await call(deployment_id, principal, "read", lambda d: d.get_latest_report())
        if report is None:
            message = (
                f"deployment {deployment_id} has no report yet: a monitoring pass with reports writes one"
            )
            return JSONResponse({"message": message, "detail": message}, status_code=404)
        try:
            html = await run_in_threadpool(read_report, report.uri, tracking_uri=settings.mlflow_tracking_uri)
        except LookupError as exc:
            return JSONResponse({"message": str(exc), "detail": str(exc)}, status_code=404)
        except ValueError as exc:  # too large to serve: the artifact store has something unexpected
            return JSONResponse({"message": str(exc), "detail": str(exc)}, status_code=502)
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": "sandbox allow-scripts allow-popups",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, max-age=300",
            },
        )

    return router
