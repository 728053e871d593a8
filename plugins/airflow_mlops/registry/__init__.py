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

__all__ = [
    "RESERVED_TAGS",
    "TRUSTED_MODULE_PREFIXES",
    "RegisteredModelVersion",
    "delete_alias",
    "get_model_version",
    "get_or_create_experiment",
    "get_version_by_alias",
    "load_model",
    "register_model",
    "set_alias",
    "skops_trusted_types",
]
