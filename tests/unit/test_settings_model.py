"""The settings base model: camelCase on the wire, strict types, and one error message style."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field, ValidationError, model_validator

from airflow_mlops.settings_model import SettingsModel, describe_errors


class _Inner(SettingsModel):
    flag_on: bool = True


class _Section(SettingsModel):
    batch_count: int = Field(default=5, ge=1)
    mode: Literal["fast", "slow"] = "fast"
    inner_part: _Inner | None = None
    warning: float = 0.1
    failing: float = 0.2

    @model_validator(mode="after")
    def _ordered(self) -> _Section:
        if self.warning > self.failing:
            raise ValueError(f"warning ({self.warning}) must not exceed failing ({self.failing})")
        return self


def _message(data: object) -> str:
    with pytest.raises(ValidationError) as info:
        _Section.model_validate(data, by_name=True, by_alias=False)
    return describe_errors(info.value, _Section, "section")


def test_snake_case_in_python_camel_case_on_the_wire() -> None:
    section = _Section.model_validate({"batchCount": 2, "innerPart": {"flagOn": False}})
    assert section.model_dump(by_alias=True) == {
        "batchCount": 2,
        "mode": "fast",
        "innerPart": {"flagOn": False},
        "warning": 0.1,
        "failing": 0.2,
    }
    assert _Section(batch_count=3).batch_count == 3
    # Python callers validate by name only: a camelCase key there is an unknown field.
    assert "unknown field 'batchCount'" in _message({"batchCount": 2})


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"batch_count": 0}, "section.batch_count: Input should be greater than or equal to 1, got 0"),
        ({"batch_count": True}, "section.batch_count: Input should be a valid integer, got True"),
        ({"batch_count": "2"}, "section.batch_count: Input should be a valid integer, got '2'"),
        ({"mode": "medium"}, "section.mode: Input should be 'fast' or 'slow', got 'medium'"),
        (
            {"inner_part": {"flag_on": "no"}},
            "section.inner_part.flag_on: Input should be a valid boolean, got 'no'",
        ),
        ({"warning": float("nan")}, "section.warning: Input should be a finite number, got nan"),
        ({"warning": 0.5}, "section: warning (0.5) must not exceed failing (0.2)"),
        (
            {"colour": 1},
            "section: unknown field 'colour'; valid fields: ['batch_count', 'mode', 'inner_part'",
        ),
        ({"inner_part": {"size": 1}}, "section.inner_part: unknown field 'size'; valid fields: ['flag_on']"),
    ],
)
def test_errors_name_the_field_quote_the_value_and_list_what_is_valid(
    data: dict[str, object], says: str
) -> None:
    assert says in _message(data)


def test_text_with_nul_is_refused_and_long_values_are_quoted_by_their_start() -> None:
    class Named(SettingsModel):
        name: str | None = None
        count: int = 0

    with pytest.raises(ValidationError, match="NUL"):
        Named(name="a\x00b")
    with pytest.raises(ValidationError) as info:
        Named.model_validate({"count": "x" * 10_000})
    message = describe_errors(info.value, Named)
    assert message.startswith("count: Input should be a valid integer, got 'xxx")
    assert "(10002 characters)" in message and len(message) < 400
