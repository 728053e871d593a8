"""Enum values kept exactly as DataRobot spells them, so its users feel at home.

They are ``str`` enums: a member compares equal to its DataRobot string, and
anything that accepts one of these also accepts the plain string.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


class MODEL_REPLACEMENT_REASON(StrEnum):
    ACCURACY = "ACCURACY"
    DATA_DRIFT = "DATA_DRIFT"
    ERRORS = "ERRORS"
    SCHEDULED_REFRESH = "SCHEDULED_REFRESH"
    SCORING_SPEED = "SCORING_SPEED"
    OTHER = "OTHER"


class SERVICE_STAT_METRIC(StrEnum):
    TOTAL_PREDICTIONS = "totalPredictions"
    TOTAL_REQUESTS = "totalRequests"
    SLOW_REQUESTS = "slowRequests"
    EXECUTION_TIME = "executionTime"
    RESPONSE_TIME = "responseTime"
    USER_ERROR_RATE = "userErrorRate"
    SERVER_ERROR_RATE = "serverErrorRate"
    NUM_CONSUMERS = "numConsumers"
    CACHE_HIT_RATIO = "cacheHitRatio"
    MEDIAN_LOAD = "medianLoad"
    PEAK_LOAD = "peakLoad"


class DATA_DRIFT_METRIC(StrEnum):
    PSI = "psi"
    KL_DIVERGENCE = "kl_divergence"
    DISSIMILARITY = "dissimilarity"
    HELLINGER = "hellinger"
    JS_DIVERGENCE = "js_divergence"


class HEALTH_STATUS(StrEnum):
    PASSING = "passing"
    WARNING = "warning"
    FAILING = "failing"
    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"


class DEPLOYMENT_IMPORTANCE(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MODERATE = "MODERATE"
    LOW = "LOW"


class DEPLOYMENT_ROLE(StrEnum):
    """What a caller may do with a deployment: CONSUMER predicts, USER also reads, OWNER changes."""

    OWNER = "OWNER"
    USER = "USER"
    CONSUMER = "CONSUMER"


class DEPLOYMENT_STATUS(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


def parse_enum(enum_cls: type[E], value: str | E, *, field: str) -> E:
    """Turn a user's string into an enum member, or say which values are valid."""
    try:
        return enum_cls(value)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in enum_cls)
        raise ValueError(f"{field}={value!r} is not valid; expected one of {valid}") from None
