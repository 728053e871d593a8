"""DataRobot's JSON for the monitoring reads: what the official ``datarobot`` client converts.

The client (``datarobot.models.deployment``) validates each answer with a
trafaret converter before it builds its objects, so a key it requires and we
left out is a ``DataError`` in the user's code, not a missing field. Each
function here turns one of our Python API's results (the same objects
``Deployment.get_accuracy()`` & co. return) into that shape, keeping our own
extra keys (the client allows extras). Query parameters the client may send and
we cannot honour are refused here with a 422 naming them (:func:`refuse`).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from airflow_mlops.deployments import SettingsError
from airflow_mlops.monitoring.service import SLOW_REQUEST_MS

#: Segment analysis (``segmentAttribute``/``segmentValue``) filters every read by a request
#: attribute; we keep no segments, and ignoring the filter would answer for the wrong rows.
SEGMENTS = "segment analysis is not supported: the reads cover every prediction; leave it out"


def refuse(name: str, value: Any, why: str) -> None:
    """422 naming the query parameter, when the client sent one (``None``: not sent)."""
    if value is not None and value != []:
        raise SettingsError(f"{name}={value!r} is not supported: {why}")


def no_segments(attribute: str | None, value: str | None) -> None:
    refuse("segmentAttribute", attribute, SEGMENTS)
    refuse("segmentValue", value, SEGMENTS)


def slow_threshold(name: str, value: float | None) -> None:
    """Slow requests are counted at DataRobot's default, 1000 ms, when the predictions are folded."""
    if value is not None and float(value) != SLOW_REQUEST_MS:
        raise SettingsError(
            f"{name}={value!r} is not supported: slow requests are counted over "
            f"{SLOW_REQUEST_MS:g} ms when predictions are folded; leave it out or send {SLOW_REQUEST_MS:g}"
        )


def one_model(model_ids: list[str] | None) -> str | None:
    """The client may send ``modelId`` repeated (a list of models); we read one model at a time."""
    ids = [m for m in model_ids or [] if m]
    if len(ids) > 1:
        raise SettingsError(f"modelId={ids!r} is not supported: ask for one model at a time")
    return ids[0] if ids else None


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def segment_keys() -> dict[str, Any]:
    """Every read covers all predictions: no segment.

    The client requires ``segmentValue`` (nullable) on some answers, and takes
    ``segmentAttribute`` only as a string, so that one is left out.
    """
    return {"segmentValue": None}


#: The service stats the client's converter accepts as null; it refuses a null for the others.
_NULLABLE_STATS = frozenset({"executionTime", "responseTime"})


def service_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Our service stats without the unknown (``None``) ones the client cannot take as null.

    ``numConsumers`` is unknown when no caller was logged, ``cacheHitRatio`` when
    no cache lookup was: leaving them out keeps "unknown" (the client's
    ``stats["numConsumers"]`` reads ``None``) instead of inventing a 0.
    """
    return {k: v for k, v in metrics.items() if v is not None or k in _NULLABLE_STATS}


def over_time(result: Any, summary_value: Any = None, **summary: Any) -> dict[str, Any]:
    """An ``…OverTime`` answer: DataRobot's ``buckets`` (each with ``modelId``) and ``summary``."""
    model_id = result.model_id
    buckets = [{**b, "modelId": model_id} for b in result.buckets]
    return {
        "metric": result.metric,
        "bucketSize": result.bucket_size,
        "modelId": model_id,
        "period": result.period,
        "buckets": buckets,
        "summary": {"period": result.period, "value": summary_value, "modelId": model_id, **summary},
        "bucketValues": {_iso(k): v for k, v in result.bucket_values.items()},
        **segment_keys(),
        **dict(result.extra),
    }


def percent_change(value: float | None, baseline: float | None) -> float | None:
    """How far the window's value is from the baseline's, in percent of the baseline (DataRobot's)."""
    if value is None or baseline is None or baseline == 0:
        return None
    return (value - baseline) / abs(baseline) * 100.0


def accuracy(result: Any, metric: str | None = None) -> dict[str, Any]:
    """``accuracy/``: DataRobot's ``data[]`` and older ``metrics{name: {value, baselineValue, percentChange}}``.

    The baseline is the model's holdout score (recorded at registration), so
    ``baselineSampleSize`` is unknown: ``None``. ``metric`` keeps only that one.
    """
    body = asdict(result)
    names = list(body["metrics"])
    if metric is not None:
        if metric not in names:
            raise SettingsError(
                f"metric={metric!r} is not an accuracy metric of this deployment; expected one of {names}"
            )
        names = [metric]
    baseline = body["baseline_metrics"] or {}
    data = []
    for name in names:
        value = body["metrics"][name]
        data.append(
            {
                "modelId": body["model_id"],
                "metricName": name,
                "value": value,
                "sampleSize": body["pairs_used"],
                "baselineValue": baseline.get(name),
                "baselineSampleSize": None,
                "percentChange": percent_change(value, baseline.get(name)),
            }
        )
    return {
        "modelId": body["model_id"],
        "period": body["period"],
        "data": data,
        "metrics": {
            item["metricName"]: {
                "value": item["value"],
                "baselineValue": item["baselineValue"],
                "percentChange": item["percentChange"],
                "sampleSize": item["sampleSize"],
            }
            for item in data
        },
        "baselineMetrics": baseline,
        "actualsJoined": body["actuals_joined"],
        "pairsUsed": body["pairs_used"],
        "pendingActuals": body["pending_actuals"],
        **segment_keys(),
    }


def accuracy_over_time(result: Any, window: Any) -> dict[str, Any]:
    """``accuracyOverTime/``: buckets, ``summary`` (the window read's value) and ``baselines`` (holdout)."""
    name = result.metric
    baseline = (window.baseline_metrics or {}).get(name)
    body = over_time(result, window.metrics.get(name), sampleSize=window.pairs_used)
    body["baselines"] = [{"modelId": result.model_id, "value": baseline, "sampleSize": None}]
    body["baseline"] = {"period": None, "modelId": result.model_id, "value": baseline, "sampleSize": None}
    return body


def predictions_vs_actuals(result: Any) -> dict[str, Any]:
    """``predictionsVsActualsOverTime/``: exactly the client's keys (its converter allows no other)."""
    buckets = [{**b, "modelId": result.model_id} for b in result.buckets]
    return {
        "summary": {
            "rowCountTotal": sum(b["rowCountTotal"] for b in buckets),
            "rowCountWithActual": sum(b["rowCountWithActual"] for b in buckets),
        },
        "baselines": [],
        "buckets": buckets,
        **segment_keys(),
    }
