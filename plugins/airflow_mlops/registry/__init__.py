"""The MLflow Model Registry as this project uses it: aliases and tags, no stages."""

from __future__ import annotations

from airflow_mlops.registry.aliases import deployment_alias, drop_deployment_alias, mirror_deployment_alias
from airflow_mlops.registry.lineage import (
    ModelLineage,
    mlflow_model_url,
    mlflow_run_url,
    model_lineage,
    model_lineages,
)
from airflow_mlops.registry.model_card import (
    CARD_FORMATS,
    GroupMetrics,
    LoggedCard,
    ModelCard,
    card_artifact_path,
    log_model_card,
    read_model_card,
    render_html,
    render_markdown,
)
from airflow_mlops.registry.model_ref import ModelRef
from airflow_mlops.registry.model_version import (
    TARGET_TYPES,
    ModelVersionInfo,
    feature_types,
    model_version_info,
)
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
    "CARD_FORMATS",
    "MODEL_KINDS",
    "RESERVED_TAGS",
    "TARGET_TYPES",
    "TRUSTED_MODULE_PREFIXES",
    "ExternalModelError",
    "GroupMetrics",
    "LoggedCard",
    "ModelCard",
    "ModelLineage",
    "ModelRef",
    "ModelVersionInfo",
    "PredictionOutput",
    "Predictor",
    "RegisteredModelVersion",
    "card_artifact_path",
    "delete_alias",
    "deployment_alias",
    "drop_deployment_alias",
    "feature_types",
    "get_model_version",
    "get_or_create_experiment",
    "get_version_by_alias",
    "load_model",
    "load_predictor",
    "log_model_card",
    "mirror_deployment_alias",
    "mlflow_model_url",
    "mlflow_run_url",
    "model_kind",
    "model_lineage",
    "model_lineages",
    "model_version_info",
    "monitored_values",
    "read_model_card",
    "register_custom_model",
    "register_external_model",
    "register_model",
    "render_html",
    "render_markdown",
    "set_alias",
    "skops_trusted_types",
]
