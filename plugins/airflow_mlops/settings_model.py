"""The base of every deployment-settings section model, and how their errors read.

Each settings section (drift tracking, association id, retraining policy,
health…) is one Pydantic model, defined next to the code that acts on it (the
health rules in ``monitoring``, the policy in ``retraining``) and composed into
the whole document in ``deployments.settings``. This leaf module holds what they
share, so a lower package can define a section without importing a higher one:

* snake_case in Python and in the store, DataRobot's camelCase on the wire
  (Pydantic's own alias generator);
* unknown fields refused; strict types (``"no"`` is not a boolean, ``True`` is
  not a count), no NaN or infinity, no NUL in text (PostgreSQL cannot store it);
* :func:`describe_errors`: one message style for a whole :class:`ValidationError`,
  ``<field path>: <rule>, got <value>``, with the valid fields for an unknown one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

__all__ = ["SettingsModel", "describe_errors", "refuse_nul", "rule_error"]

#: Longest quoted value in a message; a 100 kB string is quoted by its start.
_MAX_QUOTED = 200


def rule_error(message: str) -> PydanticCustomError:
    """An error for a validator to raise: unlike a ValueError, Pydantic shows it without "Value error, "."""
    return PydanticCustomError("settings_rule", "{message}", {"message": message})


def refuse_nul(value: Any) -> Any:
    """``value`` unless it (or a string in it, if a list) holds NUL, which PostgreSQL cannot store."""
    if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
        raise rule_error("Input must not contain NUL (\\x00) characters")
    return value


class SettingsModel(BaseModel):
    """A settings section: ``model_validate(data, by_name=True, by_alias=False)`` for Python and the store."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
    )

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_QUOTED else f"{text[:_MAX_QUOTED]}… ({len(text)} characters)"


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The fields of the (nested) model at ``loc``, to list after an unknown one."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = next(
            (
                t
                for t in (field.annotation, *getattr(field.annotation, "__args__", ()))
                if isinstance(t, type) and issubclass(t, BaseModel)
            ),
            None,
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def describe_errors(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    """Every error of ``exc`` (raised validating ``model``) as ``<prefix>.<field>: <rule>, got <value>``."""
    messages = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path = ".".join(str(p) for p in (prefix, *loc) if p != "")
        if error["type"] == "extra_forbidden":
            parent = ".".join(str(p) for p in (prefix, *loc[:-1]) if p != "")
            messages.append(
                f"{parent}: unknown field {loc[-1]!r}; valid fields: {_field_names(model, loc[:-1])}"
            )
            continue
        ctx = error.get("ctx") or {}
        rule = str(ctx["error"]) if error["type"] == "value_error" and "error" in ctx else error["msg"]
        value = error.get("input")
        # A rule across fields is raised with the whole object as input: its message names the values.
        got = "" if isinstance(value, dict | BaseModel) else f", got {_quote(value)}"
        messages.append(f"{path}: {rule}{got}")
    return "; ".join(messages)
