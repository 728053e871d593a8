"""The prediction route's query parameters: one Pydantic model, validated only when a query is sent.

Why not FastAPI's ``Query`` parameters: FastAPI resolves and validates every declared
parameter on every request, present or not, and with DataRobot's thirteen optional
parameters that was about a fifth of a single-row prediction's time (profiled; see
``docs/architecture.md``). Most prediction requests carry no query string at all, so
the route reads ``request.query_params`` itself, validates them with this model when
there are any, and documents them in the OpenAPI document from the same model
(:func:`openapi_parameters`), so the document and the checks cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import QueryParams


class PredictionQuery(BaseModel):
    """DataRobot's prediction-API query parameters (names as DataRobot spells them)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    timestampColumn: str | None = Field(default=None, max_length=1024)
    passthroughColumns: list[str] | None = Field(default=None, max_length=100)
    passthroughColumnsSet: Literal["all"] | None = None
    maxExplanations: str | None = Field(
        default=None,
        max_length=16,
        description="0-100: each row gets its top N SHAP explanations (predictionExplanations); 0 or absent: none.",
    )
    thresholdHigh: float | None = Field(
        default=None,
        description="With maxExplanations: explain only rows whose prediction (positive-class probability, "
        "or value) is above this (or below thresholdLow).",
    )
    thresholdLow: float | None = Field(
        default=None,
        description="With maxExplanations: explain only rows whose prediction is below this (or above thresholdHigh).",
    )
    maxNgramExplanations: str | None = Field(default=None, max_length=16, description="Ignored.")
    explanationAlgorithm: str | None = Field(
        default=None, max_length=16, description="Only 'shap' (the explanations' algorithm)."
    )
    forecastPoint: str | None = Field(default=None, max_length=64, description="Not supported.")
    predictionsStartDate: str | None = Field(default=None, max_length=64, description="Not supported.")
    predictionsEndDate: str | None = Field(default=None, max_length=64, description="Not supported.")


#: Parameters that may repeat (``?passthroughColumns=a&passthroughColumns=b``).
_LISTS = frozenset({"passthroughColumns"})
_NONE = PredictionQuery()


def parse_prediction_query(params: QueryParams) -> PredictionQuery:
    """The validated parameters; a bad one raises FastAPI's 422 naming it (``query.<name>``)."""
    if not params:
        return _NONE
    raw: dict[str, Any] = {}
    for name in PredictionQuery.model_fields:
        if name in _LISTS:
            values = params.getlist(name)
            if values:
                raw[name] = values
        elif name in params:
            raw[name] = params[name]
    try:
        return PredictionQuery.model_validate(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def openapi_parameters() -> list[dict[str, Any]]:
    """The model's fields as OpenAPI query parameters (for the route's ``openapi_extra``)."""
    schema = PredictionQuery.model_json_schema()
    out = []
    for name, prop in schema["properties"].items():
        param: dict[str, Any] = {"in": "query", "name": name, "required": False, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        out.append(param)
    return out
