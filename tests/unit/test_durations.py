"""ISO-8601 durations: which forms settings accept, the error quoting a refused one, the round trip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from airflow_mlops.durations import MAX_DURATION, Duration, DurationError, iso_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "value", "normal"),
    [
        ("P1D", timedelta(days=1), "P1D"),
        ("P7D", timedelta(days=7), "P7D"),
        ("PT12H", timedelta(hours=12), "PT12H"),
        ("PT24H", timedelta(days=1), "P1D"),  # what every earlier version stored as the cool-down default
        ("P1DT12H", timedelta(days=1, hours=12), "P1DT12H"),
        ("PT36H", timedelta(days=1, hours=12), "P1DT12H"),
        ("PT90M", timedelta(minutes=90), "PT1H30M"),
        ("PT1.5H", timedelta(minutes=90), "PT1H30M"),
        ("PT45S", timedelta(seconds=45), "PT45S"),
        ("PT0.25S", timedelta(milliseconds=250), "PT0.25S"),
        ("P2W", timedelta(days=14), "P14D"),
        ("P400D", timedelta(days=400), "P400D"),
        ("P1DT1H1M1S", timedelta(days=1, seconds=3661), "P1DT1H1M1S"),
        ("PT0S", timedelta(0), "PT0S"),
        ("P0D", timedelta(0), "PT0S"),
    ],
)
def test_iso_forms_are_accepted_and_render_in_one_normal_form(
    text: str, value: timedelta, normal: str
) -> None:
    assert parse_duration(text) == value
    assert iso_duration(value) == normal
    assert parse_duration(iso_duration(value)) == value  # the round trip


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("weekly", "ISO-8601 duration"),
        ("1 day", "ISO-8601 duration"),  # Pydantic's timedelta takes it; ISO-8601 does not
        ("1:00:00", "ISO-8601 duration"),
        ("86400", "ISO-8601 duration"),
        (3600, "ISO-8601 duration"),
        ("", "ISO-8601 duration"),
        ("P", "ISO-8601 duration"),
        ("p1d", "ISO-8601 duration"),
        (" P1D", "ISO-8601 duration"),
        ("P1D12H", "ISO-8601 duration"),
        ("P1M", "no years or months"),
        ("P1Y", "no years or months"),
        ("-P1D", "ISO-8601 duration"),
        (timedelta(hours=-1), "should not be negative"),
        ("P36501D", "at most P36500D"),
    ],
)
def test_other_values_are_refused_naming_the_field_and_quoting_the_value(value: object, says: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(value, "retraining.cool_down")  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("retraining.cool_down: ")
    assert says in message
    assert message.endswith(f"got {value!r}")


def test_the_largest_duration_is_accepted() -> None:
    assert parse_duration(iso_duration(MAX_DURATION)) == MAX_DURATION


def test_negative_durations_have_no_text() -> None:
    with pytest.raises(DurationError, match="negative"):
        iso_duration(timedelta(seconds=-1))


class _Window(BaseModel):
    window: Duration
    optional: Duration | None = None


def test_the_duration_type_parses_text_and_writes_the_normal_form_to_json() -> None:
    model = _Window(window="PT36H")  # type: ignore[arg-type]
    assert model.window == timedelta(days=1, hours=12)
    assert model.model_dump(mode="json") == {"window": "P1DT12H", "optional": None}
    assert model.model_dump()["window"] == timedelta(days=1, hours=12)  # Python keeps the timedelta
    assert _Window.model_validate_json('{"window": "PT90M"}').window == timedelta(minutes=90)
    assert _Window.model_json_schema()["properties"]["window"]["format"] == "duration"


def test_the_duration_type_names_the_field_and_keeps_the_bad_value() -> None:
    with pytest.raises(ValidationError) as info:
        _Window(window="1 day")  # type: ignore[arg-type]
    [error] = info.value.errors()
    assert (error["loc"], error["input"], error["type"]) == (("window",), "1 day", "iso_duration")
    assert error["msg"].startswith("Input should be an ISO-8601 duration")
    assert "P7D" in error["msg"]
