"""ISO-8601 durations: the one parser, the one renderer, and the ``Duration`` type of settings.

Settings store durations (a retraining cool-down, a data window, a drift
window) as ISO-8601 text such as ``P7D``, ``PT12H``, ``P1DT12H`` or ``PT90M``.
Parsing is Pydantic's (pydantic-core's ``speedate``), with three rules on top:

* the text must be an ISO-8601 duration (start with ``P``): Pydantic's timedelta
  parser also takes ``1 day``, ``1:00:00`` and bare seconds, which no other
  ISO-8601 reader does, so stored settings would stop being portable;
* no years or months: they have no fixed length (Pydantic reads ``P1M`` as 30
  days, other ISO-8601 readers as a calendar month), so ``P30D`` is asked for;
* not negative, and at most :data:`MAX_DURATION`, so ``now - duration`` cannot
  overflow a datetime.

:func:`iso_duration` renders a duration back, in the normal form every stored
value and message uses: ``PT24H`` reads back as ``P1D``, ``PT90M`` as ``PT1H30M``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, TypeAdapter, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = ["MAX_DURATION", "Duration", "DurationError", "iso_duration", "parse_duration"]

#: A hundred years: longer than any window or cool-down, short enough for datetime arithmetic.
MAX_DURATION = timedelta(days=36_500)

#: What every duration error says is expected (the value is quoted after it).
EXPECTED = (
    "an ISO-8601 duration in weeks, days, hours, minutes or seconds such as P7D, PT12H, P1DT12H or PT90M "
    "(no years or months: they have no fixed length)"
)

_TIMEDELTA = TypeAdapter(timedelta)


class DurationError(ValueError):
    """Text that is not a duration settings accept; the message quotes it and says what is."""


def _checked(value: Any) -> timedelta:
    """``value`` as a timedelta, or :class:`DurationError` with the reason (without the value)."""
    if isinstance(value, timedelta):
        duration = value
    else:
        if not isinstance(value, str) or not value.startswith("P"):
            raise DurationError(f"should be {EXPECTED}")
        date_part = value[1:].split("T", 1)[0]
        if "Y" in date_part or "M" in date_part:
            raise DurationError(f"should be {EXPECTED}")
        try:
            duration = _TIMEDELTA.validate_python(value)
        except ValidationError:
            raise DurationError(f"should be {EXPECTED}") from None
    if duration < timedelta(0):
        raise DurationError("should not be negative")
    if duration > MAX_DURATION:
        raise DurationError(f"should be at most {iso_duration(MAX_DURATION)}")
    return duration


def parse_duration(value: str | timedelta, field: str = "duration") -> timedelta:
    """``P7D``, ``PT12H``, ``P1DT12H``, ``PT90M``, ``P2W``… as a timedelta (a timedelta passes through).

    Raises :class:`DurationError` naming ``field`` and quoting ``value``.
    """
    try:
        return _checked(value)
    except DurationError as exc:
        raise DurationError(f"{field}: {exc}, got {value!r}") from None


def iso_duration(value: timedelta) -> str:
    """The ISO-8601 text of a non-negative duration: days, then hours, minutes and seconds.

    Written here rather than taken from Pydantic because Pydantic's serializer
    folds 365 days into a year designator (``P1Y35D``), which other ISO-8601
    readers take as a calendar year and :func:`parse_duration` refuses.
    """
    if value < timedelta(0):
        raise DurationError(f"duration: should not be negative, got {value!r}")
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time = f"{hours}H" if hours else ""
    time += f"{minutes}M" if minutes else ""
    if value.microseconds:
        time += f"{seconds}.{value.microseconds:06d}".rstrip("0") + "S"
    elif seconds:
        time += f"{seconds}S"
    date = f"{value.days}D" if value.days else ""
    if not date and not time:
        return "PT0S"
    return f"P{date}" + (f"T{time}" if time else "")


def _validate(value: Any) -> timedelta:
    try:
        return _checked(value)
    except DurationError as exc:
        # A custom error type keeps Pydantic's "Value error, " prefix out of the message.
        raise PydanticCustomError("iso_duration", "Input {reason}", {"reason": str(exc)}) from None


#: A settings field holding a duration: ISO-8601 text (or a timedelta) in, a timedelta in Python,
#: the normal ISO-8601 text in JSON (what the store and the REST API keep).
Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(iso_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "duration", "examples": ["P7D", "PT12H", "P1DT12H"]}),
]
