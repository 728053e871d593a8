"""Deployment settings: defaults, validation, and DataRobot's camelCase REST shape.

Settings live as one JSON document per deployment. Every update goes through
:func:`validate_section`, which rejects unknown keys and wrong types with a
message naming the field and what is allowed, so nothing invalid is stored.
"""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Any

from airflow_mlops.monitoring.drift import drift_metric_names

DEFAULT_SETTINGS: dict[str, Any] = {
    "drift_tracking": {"target_drift": {"enabled": True}, "feature_drift": {"enabled": True}},
    "association_id": {"column_names": [], "required_in_prediction_requests": False},
    "predictions_data_collection": {"enabled": True},
    # Regression only. Default boundaries (custom_boundaries None) are derived from the
    # holdout predictions when the model is deployed.
    "prediction_warning": {"enabled": False, "custom_boundaries": None},
    "health": {
        # Rates of requests in the window (see monitoring.health.ServiceHealthSettings for why
        # these numbers); response-time thresholds (mean ms) are off unless set.
        "service": {
            "batch_count": 5,
            "server_error_warning": 0.01,
            "server_error_failing": 0.05,
            "user_error_warning": 0.05,
            "user_error_failing": 0.20,
            "slow_warning": 0.05,
            "slow_failing": 0.20,
            "response_time_warning_ms": None,
            "response_time_failing_ms": None,
            "min_requests": 1,
        },
        "data_drift": {
            "time_interval": "P7D",
            "drift_threshold": 0.15,
            "importance_threshold": 0.5,
            "low_importance_warning_count": 1,
            "low_importance_failing_count": None,
            "high_importance_warning_count": 1,
            "high_importance_failing_count": 1,
            "excluded_features": [],
            "starred_features": [],
            "metric": "psi",
        },
        "accuracy": {
            "metric": None,
            "measurement": "percent",
            "warning_threshold": 0.1,
            "failing_threshold": 0.2,
        },
    },
    # The retraining policy (see airflow_mlops.retraining.policy for what each field means).
    "retraining": {
        "source": None,
        "trigger_reasons": [
            "ACCURACY",
            "DATA_DRIFT",
            "ERRORS",
            "SCORING_SPEED",
            "SCHEDULED_REFRESH",
            "OTHER",
        ],
        "data_window": None,
        "timestamp_column": None,
        "cool_down": "PT24H",
        "replacement": "automatic",
        "margin": 0.0,
        "metric": None,
        "refresh_schedule": None,
    },
}

SECTIONS = (
    "drift_tracking",
    "association_id",
    "predictions_data_collection",
    "prediction_warning",
    "health",
    "retraining",
)

#: How a better challenger becomes the champion.
REPLACEMENT_MODES = ("automatic", "approval")


class SettingsError(ValueError):
    """An invalid settings value; the message names the field and what it accepts."""


def default_settings() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_SETTINGS)


def with_defaults(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Stored settings over the defaults, so deployments created before a setting existed get it."""
    merged = default_settings()
    _deep_update(merged, stored or {})
    return merged


def _deep_update(base: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def _check_keys(path: str, value: Any, allowed: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingsError(f"{path} must be an object with keys {sorted(allowed)}, got {value!r}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise SettingsError(f"{path}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    return value


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"{path} must be true or false, got {value!r}")
    return value


def _number(path: str, value: Any, *, minimum: float | None = None, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{path} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise SettingsError(f"{path} must be >= {minimum}, got {value!r}")
    return value


def _count(path: str, value: Any, *, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(
            f"{path} must be a whole number >= 0{' or null' if allow_none else ''}, got {value!r}"
        )
    return value


def _names(path: str, value: Any, features: list[str] | None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{path} must be a list of feature names, got {value!r}")
    if features is not None:
        unknown = [v for v in value if v not in features]
        if unknown:
            raise SettingsError(f"{path}: {unknown} are not features of the model; features: {features}")
    return list(value)


_DURATION = re.compile(r"^P(?:(\d+)D|T(\d+)H)$")


def parse_duration(value: str, path: str) -> timedelta:
    """``P7D`` / ``PT12H`` as a timedelta; the only two forms settings accept."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise SettingsError(
            f"{path} must be an ISO-8601 duration in days or hours (P7D, PT12H), got {value!r}"
        )
    days, hours = match.groups()
    return timedelta(days=int(days)) if days else timedelta(hours=int(hours))


def validate_section(
    section: str,
    patch: dict[str, Any],
    current: dict[str, Any],
    *,
    target_type: str,
    features: list[str] | None = None,
) -> dict[str, Any]:
    """``current[section]`` with ``patch`` applied, checked; raises :class:`SettingsError`."""
    if section not in SECTIONS:
        raise SettingsError(f"settings section {section!r} is not valid; expected one of {list(SECTIONS)}")
    merged = copy.deepcopy(current[section])
    _check_keys(section, patch, merged)
    if section == "drift_tracking":
        for key in ("target_drift", "feature_drift"):
            if key in patch:
                inner = _check_keys(f"{section}.{key}", patch[key], {"enabled": None})
                if "enabled" in inner:
                    merged[key]["enabled"] = _bool(f"{section}.{key}.enabled", inner["enabled"])
    elif section == "association_id":
        if "column_names" in patch:
            names = patch["column_names"]
            if (
                not isinstance(names, list)
                or len(names) > 1
                or not all(isinstance(n, str) and n for n in names)
            ):
                raise SettingsError(
                    f"association_id.column_names must be a list of exactly one column name (or empty), got {names!r}"
                )
            merged["column_names"] = names
        if "required_in_prediction_requests" in patch:
            merged["required_in_prediction_requests"] = _bool(
                "association_id.required_in_prediction_requests", patch["required_in_prediction_requests"]
            )
        if merged["required_in_prediction_requests"] and not merged["column_names"]:
            raise SettingsError(
                "association_id.required_in_prediction_requests needs a column in column_names"
            )
    elif section == "predictions_data_collection":
        if "enabled" in patch:
            merged["enabled"] = _bool("predictions_data_collection.enabled", patch["enabled"])
    elif section == "prediction_warning":
        if target_type != "Regression":
            raise SettingsError(
                f"prediction warnings are for regression deployments only; this one is {target_type}"
            )
        if "enabled" in patch:
            merged["enabled"] = _bool("prediction_warning.enabled", patch["enabled"])
        if "custom_boundaries" in patch:
            bounds = patch["custom_boundaries"]
            if bounds is not None:
                _check_keys("prediction_warning.custom_boundaries", bounds, {"lower": None, "upper": None})
                lower = _number("prediction_warning.custom_boundaries.lower", bounds.get("lower"))
                upper = _number("prediction_warning.custom_boundaries.upper", bounds.get("upper"))
                if lower >= upper:
                    raise SettingsError(
                        f"prediction_warning.custom_boundaries: lower ({lower}) must be below upper ({upper})"
                    )
                bounds = {"lower": lower, "upper": upper}
            merged["custom_boundaries"] = bounds
    elif section == "retraining":
        _validate_retraining(patch, merged)
    else:
        _validate_health(patch, merged, features)
    return merged


def _validate_retraining(patch: dict[str, Any], merged: dict[str, Any]) -> None:
    from airflow_mlops.enums import MODEL_REPLACEMENT_REASON

    for key, value in patch.items():
        path = f"retraining.{key}"
        if key in ("source", "timestamp_column", "metric"):
            if value is not None and (not isinstance(value, str) or not value):
                raise SettingsError(f"{path} must be a non-empty string or null, got {value!r}")
        elif key == "trigger_reasons":
            valid = [r.value for r in MODEL_REPLACEMENT_REASON]
            if not isinstance(value, list) or any(v not in valid for v in value):
                raise SettingsError(f"{path} must be a list of reasons from {valid}, got {value!r}")
            value = [r for r in valid if r in value]
        elif key == "data_window":
            if value is not None:
                parse_duration(value, path)
        elif key == "cool_down":
            parse_duration(value, path)
        elif key == "replacement":
            if value not in REPLACEMENT_MODES:
                raise SettingsError(
                    f"{path}={value!r} is not valid; expected one of {list(REPLACEMENT_MODES)}"
                )
        elif key == "margin":
            value = _number(path, value, minimum=0)
        elif key == "refresh_schedule" and value is not None:
            _check_cron(value, path)
        merged[key] = value
    if merged["data_window"] is not None and merged["timestamp_column"] is None:
        raise SettingsError(
            "retraining.data_window needs retraining.timestamp_column (the source column giving each row's time)"
        )


def _check_cron(value: Any, path: str) -> None:
    from croniter import croniter

    if not isinstance(value, str) or not croniter.is_valid(value):
        raise SettingsError(f"{path} must be a cron expression such as '0 3 * * 1' or null, got {value!r}")


def _validate_health(patch: dict[str, Any], merged: dict[str, Any], features: list[str] | None) -> None:
    if "service" in patch:
        inner = _check_keys("health.service", patch["service"], merged["service"])
        service = merged["service"]
        for key, value in inner.items():
            path = f"health.service.{key}"
            if key in ("batch_count", "min_requests"):
                count = _count(path, value)
                if count < 1:
                    raise SettingsError(f"{path} must be >= 1, got {count}")
                service[key] = count
            elif key.endswith("_ms"):
                service[key] = _number(path, value, minimum=0, allow_none=True)
            else:
                rate = _number(path, value, minimum=0)
                if rate > 1:
                    raise SettingsError(f"{path} must be a rate in [0, 1], got {value!r}")
                service[key] = rate
        for kind in ("server_error", "user_error", "slow"):
            if service[f"{kind}_warning"] > service[f"{kind}_failing"]:
                raise SettingsError(
                    f"health.service.{kind}_warning ({service[f'{kind}_warning']}) must not exceed "
                    f"{kind}_failing ({service[f'{kind}_failing']})"
                )
        warn_ms, fail_ms = service["response_time_warning_ms"], service["response_time_failing_ms"]
        if warn_ms is not None and fail_ms is not None and warn_ms > fail_ms:
            raise SettingsError(
                f"health.service.response_time_warning_ms ({warn_ms}) must not exceed "
                f"response_time_failing_ms ({fail_ms})"
            )
    if "data_drift" in patch:
        inner = _check_keys("health.data_drift", patch["data_drift"], merged["data_drift"])
        drift = merged["data_drift"]
        for key, value in inner.items():
            path = f"health.data_drift.{key}"
            if key == "time_interval":
                if not isinstance(value, str) or not _DURATION.match(value):
                    raise SettingsError(
                        f"{path} must be an ISO-8601 duration in days or hours (P7D, PT12H), got {value!r}"
                    )
                drift[key] = value
            elif key in ("drift_threshold", "importance_threshold"):
                drift[key] = _number(path, value, minimum=0)
            elif key in ("low_importance_failing_count",):
                drift[key] = _count(path, value, allow_none=True)
            elif key.endswith("_count"):
                drift[key] = _count(path, value)
            elif key in ("excluded_features", "starred_features"):
                drift[key] = _names(path, value, features)
            elif key == "metric":
                if value not in drift_metric_names():
                    raise SettingsError(
                        f"{path}={value!r} is not valid; expected one of {drift_metric_names()}"
                    )
                drift[key] = value
    if "accuracy" in patch:
        inner = _check_keys("health.accuracy", patch["accuracy"], merged["accuracy"])
        acc = merged["accuracy"]
        for key, value in inner.items():
            path = f"health.accuracy.{key}"
            if key == "metric":
                if value is not None and not isinstance(value, str):
                    raise SettingsError(f"{path} must be an accuracy metric name or null, got {value!r}")
                acc[key] = value
            elif key == "measurement":
                if value not in ("percent", "value"):
                    raise SettingsError(
                        f"{path}={value!r} is not valid; expected one of ['percent', 'value']"
                    )
                acc[key] = value
            else:
                acc[key] = _number(path, value, minimum=0)
        if acc["warning_threshold"] > acc["failing_threshold"]:
            raise SettingsError(
                f"health.accuracy.warning_threshold ({acc['warning_threshold']}) must not exceed "
                f"failing_threshold ({acc['failing_threshold']})"
            )


# ---- DataRobot's camelCase on the wire ------------------------------------------------------


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camelize(value: Any) -> Any:
    """Keys to camelCase, recursively (feature names in lists are values and stay as they are)."""
    if isinstance(value, dict):
        return {to_camel(k): camelize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


def snakify(value: Any) -> Any:
    if isinstance(value, dict):
        return {to_snake(k): snakify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snakify(v) for v in value]
    return value
