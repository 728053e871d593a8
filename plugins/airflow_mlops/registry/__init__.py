"""The MLflow Model Registry as this project uses it: aliases and tags, no stages."""

from __future__ import annotations

from airflow_mlops.registry.models import (
    RESERVED_TAGS,
    TRUSTED_MODULE_PREFIXES,
    RegisteredModelVersion,
    delete_alias,
    get_model_version,
    get_or_create_experiment,
    get_version_by_alias,
    load_model,
    register_model,
    set_alias,
    skops_trusted_types,
)
from airflow_mlops.registry.packages import (
    MODEL_KINDS,
    ExternalModelError,
    PredictionOutput,
    Predictor,
    load_predictor,
    model_kind,
    monitored_values,
    register_custom_model,
    register_external_model,
)

__all__ = [
    "MODEL_KINDS",
    "RESERVED_TAGS",
    "TRUSTED_MODULE_PREFIXES",
    "ExternalModelError",
    "PredictionOutput",
    "Predictor",
    "RegisteredModelVersion",
    "delete_alias",
    "get_model_version",
    "get_or_create_experiment",
    "get_version_by_alias",
    "load_model",
    "load_predictor",
    "model_kind",
    "monitored_values",
    "register_custom_model",
    "register_external_model",
    "register_model",
    "set_alias",
    "skops_trusted_types",
]
