"""Loading a registered version, of whatever kind, as a :class:`~airflow_mlops.registry.Predictor`."""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc
from mlflow.exceptions import MlflowException

from airflow_mlops.registry.mlflow_context import mlflow_stores
from airflow_mlops.registry.models import (
    TAG_FEATURES,
    TAG_TARGET,
    TAG_TASK,
    RegisteredModelVersion,
    get_model_version,
    get_version_by_alias,
    load_model,
    quiet_mlflow_logs,
)
from airflow_mlops.registry.packages.fast_pipeline import FastPipeline
from airflow_mlops.registry.packages.metadata import TAG_FEATURE_TYPES, check_task, model_kind
from airflow_mlops.registry.packages.predictors import (
    AutoMLPredictor,
    ExternalPredictor,
    Predictor,
    PyfuncPredictor,
)


def _resolve(ref_or_uri: str, tracking_uri: str, registry_uri: str | None) -> RegisteredModelVersion:
    """A registered version from ``name/version``, ``name@alias`` or their ``models:/`` forms.

    Only registry references are accepted: the kind, task and features come
    from the version's tags, which a ``runs:/`` URI or a bare LoggedModel lacks.
    """
    text = ref_or_uri.removeprefix("models:/")
    if "@" in text:
        name, _, alias = text.partition("@")
        version = get_version_by_alias(name, alias, tracking_uri=tracking_uri, registry_uri=registry_uri)
        if version is None:
            raise LookupError(f"no version of model {name!r} holds the alias {alias!r}")
        return version
    name, _, number = text.rpartition("/")
    if not name or not number.isdigit() or ":/" in text:
        raise ValueError(
            f"{ref_or_uri!r} is not a registered model version; expected 'name/version', 'name@alias' "
            "or their models:/ forms"
        )
    try:
        return get_model_version(name, number, tracking_uri=tracking_uri, registry_uri=registry_uri)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise LookupError(f"model {name}/{number} is not in the MLflow registry") from exc
        raise


def load_predictor(ref_or_uri: str, *, tracking_uri: str, registry_uri: str | None = None) -> Predictor:
    """Load a registered version as a :class:`Predictor`, whatever its kind.

    automl → the scikit-learn pipeline (``predict_proba``/``predict``); custom →
    ``mlflow.pyfunc.load_model`` with the output convention of
    :class:`PyfuncPredictor`; external → nothing to load, a predictor whose
    ``predict`` raises :class:`ExternalModelError`.
    """
    quiet_mlflow_logs()
    with mlflow_stores(tracking_uri, registry_uri):
        version = _resolve(ref_or_uri, tracking_uri, registry_uri)
        model_id = f"{version.name}/{version.version}"
        missing = [key for key in (TAG_TARGET, TAG_TASK, TAG_FEATURES) if key not in version.tags]
        if missing:
            raise ValueError(f"model {model_id!r} lacks the registry tags {missing}; it cannot be served")
        check_task(version.task)
        if version.task != "regression" and not version.classes:
            raise ValueError(f"model {model_id!r} is a {version.task} model without a 'classes' tag")
        kind = model_kind(version.tags)
        common: dict[str, Any] = {
            "model_id": model_id,
            "task": version.task,
            "target": version.target,
            "features": list(version.feature_names),
            "classes": version.classes,
        }
        if kind == "external":
            return ExternalPredictor(
                **common, feature_types=json.loads(version.tags.get(TAG_FEATURE_TYPES, "{}"))
            )
        if kind == "custom":
            return PyfuncPredictor(**common, model=mlflow.pyfunc.load_model(version.model_uri))
        pipeline = load_model(version.model_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
        if version.task != "regression":
            # The pipeline's own order is what predict_proba's columns follow.
            common["classes"] = [c.item() if hasattr(c, "item") else c for c in pipeline.classes_]
        return AutoMLPredictor(**common, pipeline=pipeline, fast=FastPipeline.maybe(pipeline, model_id))
