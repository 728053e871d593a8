"""Put fitted pipelines in the MLflow Model Registry and get them back.

Versions are addressed by aliases ("champion", "challenger") and described by
tags, never by MLflow's deprecated stages. Everything a caller needs to use a
version without loading it (task, target, features, classes) is written as
version tags, so deployment code can decide from metadata alone.

Every public function takes the tracking URI explicitly and points MLflow at it
before doing anything: relying on MLflow's process-wide default would silently
write to ``./mlruns`` of whatever directory a worker happens to run in.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
import skops.io
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from airflow_mlops.config import get_settings
from airflow_mlops.registry.mlflow_context import mlflow_stores

#: Version tags this module owns; user tags may not reuse them.
TAG_TARGET = "target"
TAG_TASK = "task"
TAG_FEATURES = "features"
TAG_CLASSES = "classes"
#: Permutation importance per input feature, JSON ``{feature: importance}``, most important first.
TAG_FEATURE_IMPORTANCE = "feature_importance"
RESERVED_TAGS = frozenset({TAG_TARGET, TAG_TASK, TAG_FEATURES, TAG_CLASSES, TAG_FEATURE_IMPORTANCE})

#: Only types from these packages may be trusted when skops saves a pipeline.
#: ``airflow_mlops.`` covers the preprocessor's own functions and the label-encoding
#: wrapper; ``lightgbm.``/``xgboost.``/``catboost.`` the optional families' estimators
#: (CatBoost's pickles its trained model as bytes, which skops stores as they are; LightGBM's
#: ``collections.OrderedDict`` of parameters); anything else in a pipeline is unexpected
#: and refused rather than trusted blindly.
TRUSTED_MODULE_PREFIXES: tuple[str, ...] = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "airflow_mlops.",
    "lightgbm.",
    "xgboost.",
    "catboost.",
    "collections.OrderedDict",
)

#: Pinned into the MLmodel so a serving environment can be rebuilt. Listing them
#: also spares ``log_model`` its requirement inference, which spawns a
#: subprocess and costs several seconds per model.
_REQUIREMENT_PACKAGES = ("scikit-learn", "skops", "numpy", "scipy", "pandas")

_MODEL_ARTIFACT_NAME = "model"
_FEATURE_IMPORTANCE_ARTIFACT = "feature_importance.json"


@dataclass(frozen=True)
class RegisteredModelVersion:
    """A registry version plus what a caller needs to use it without loading it."""

    name: str
    version: str
    run_id: str | None
    model_uri: str
    task: str
    target: str
    feature_names: list[str]
    classes: list[Any] | None = None
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    #: Permutation importance per feature (most important first), or ``None`` when not computed.
    feature_importance: dict[str, float] | None = None


def quiet_mlflow_logs() -> None:
    """Keep MLflow's INFO chatter (table creation, migrations) out of task logs.

    MLflow sets its logger to INFO itself; an operator who wants that back says
    so with ``MLFLOW_LOGGING_LEVEL``, which is then left alone, as is any level
    other than MLflow's default.
    """
    if os.environ.get("MLFLOW_LOGGING_LEVEL"):
        return
    logger = logging.getLogger("mlflow")
    if logger.level in (logging.NOTSET, logging.INFO):
        logger.setLevel(logging.WARNING)


@contextmanager
def _using(tracking_uri: str, registry_uri: str | None) -> Iterator[MlflowClient]:
    """Point MLflow's fluent API at the given stores and hand out a matching client.

    The registry URI is always set, defaulting to the tracking URI, so one
    call's registry cannot leak into the next call that did not name one.
    """
    quiet_mlflow_logs()
    with mlflow_stores(tracking_uri, registry_uri) as client:
        yield client


def get_or_create_experiment(client: MlflowClient, name: str, artifact_location: str | None = None) -> str:
    """The experiment's id, creating it if needed (tolerating a concurrent creator)."""
    if not name:
        raise ValueError("experiment_name must be a non-empty string")
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        if artifact_location is None:
            root = get_settings().mlflow_artifact_root
            artifact_location = None if root is None else f"{root}/{name}"
        try:
            return str(client.create_experiment(name, artifact_location=artifact_location))
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage != "active":
        raise ValueError(f"MLflow experiment {name!r} is deleted; restore it or choose another name")
    return str(experiment.experiment_id)


def skops_trusted_types(model: Any) -> list[str]:
    """The types skops must be told to trust to load ``model`` back.

    skops refuses, at load time, any type outside its built-in safe list (e.g.
    the tree structures of forests and boosting). The list is computed from
    the model itself rather than hard-coded so a new family just works, but
    restricted to known packages so nothing unexpected gets trusted.
    """
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    refused = [name for name in untrusted if not name.startswith(TRUSTED_MODULE_PREFIXES)]
    if refused:
        raise ValueError(
            f"model contains types outside {TRUSTED_MODULE_PREFIXES} "
            f"that skops would have to trust: {refused}"
        )
    return sorted(untrusted)


def _pip_requirements() -> list[str]:
    requirements = []
    for package in _REQUIREMENT_PACKAGES:
        try:
            requirements.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            requirements.append(package)
    return requirements


def _json_safe(values: Iterable[Any]) -> list[Any]:
    """Class labels as plain Python values (numpy scalars do not serialise)."""
    return [value.item() if hasattr(value, "item") else value for value in values]


def _describe_pipeline(pipeline: Any) -> tuple[str, list[Any] | None]:
    if is_classifier(pipeline):
        classes = _json_safe(pipeline.classes_)
        return ("binary" if len(classes) == 2 else "multiclass"), classes
    return "regression", None


def _feature_names(pipeline: Any, train_df: pd.DataFrame, target: str) -> list[str]:
    """The columns the pipeline was fitted on; a pipeline fitted on a bare array is refused."""
    names = getattr(pipeline, "feature_names_in_", None)
    if names is None:
        raise ValueError("pipeline must be fitted on a DataFrame so its feature names are known")
    features = [str(name) for name in names]
    if target in features:
        raise ValueError(f"target {target!r} is among the pipeline's input features")
    missing = [name for name in features if name not in train_df.columns]
    if missing:
        raise ValueError(f"train_df lacks columns the pipeline was fitted on: {missing}")
    return features


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _check_name(name: str) -> None:
    # "/" and "@" would make "models:/name/version" and "name@alias" ambiguous.
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"model name {name!r} must be letters, digits, '_', '.', '-' (no '/', '@', spaces)")


def register_model(
    pipeline: Any,
    *,
    name: str,
    train_df: pd.DataFrame,
    target: str,
    tracking_uri: str,
    registry_uri: str | None = None,
    experiment_name: str,
    tags: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    description: str | None = None,
    artifact_location: str | None = None,
    run_name: str | None = None,
    feature_importance: Mapping[str, float] | None = None,
) -> RegisteredModelVersion:
    """Log a fitted pipeline in its own MLflow run and register it as a new version of ``name``.

    The model is saved with skops (MLflow's safe default) and the exact list
    of types it must trust, and a load is tried before registering so a model
    that cannot come back never reaches the registry. ``tags`` (lineage: data
    snapshot, sweep run, DAG run...) go on the version; ``metrics`` on the run.
    ``artifact_location`` is only used when the experiment has to be created.
    ``feature_importance`` (per input feature) becomes a JSON version tag,
    which monitoring reads without loading the model, and a run artifact.
    """
    _check_name(name)
    check_is_fitted(pipeline)
    user_tags = {str(key): str(value) for key, value in (tags or {}).items()}
    clash = sorted(RESERVED_TAGS & set(user_tags))
    if clash:
        raise ValueError(f"tags may not set reserved keys {clash}; they are filled in from the model")
    features = _feature_names(pipeline, train_df, target)
    if train_df.empty:
        raise ValueError("train_df is empty; it is needed for the signature and input example")
    task, classes = _describe_pipeline(pipeline)

    features_df = train_df[features]
    sample = features_df.head(100)
    signature = infer_signature(sample, pipeline.predict(sample))
    trusted = skops_trusted_types(pipeline)
    version_tags = {
        **user_tags,
        TAG_TARGET: target,
        TAG_TASK: task,
        TAG_FEATURES: json.dumps(features),
    }
    if classes is not None:
        version_tags[TAG_CLASSES] = json.dumps(classes)
    importance: dict[str, float] | None = None
    if feature_importance is not None:
        unknown = sorted(set(feature_importance) - set(features))
        if unknown:
            raise ValueError(f"feature_importance names columns that are not features: {unknown}")
        importance = {str(k): round(float(v), 6) for k, v in feature_importance.items()}
        version_tags[TAG_FEATURE_IMPORTANCE] = json.dumps(importance)

    with _using(tracking_uri, registry_uri) as client:
        experiment_id = get_or_create_experiment(client, experiment_name, artifact_location)
        with mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name or f"register-{name}",
            nested=mlflow.active_run() is not None,
            tags={**user_tags, "airflow_mlops.kind": "model_registration"},
        ) as run:
            mlflow.log_params(
                {
                    "target": target,
                    "task": task,
                    "estimator": type(pipeline[-1]).__name__ if hasattr(pipeline, "steps") else "",
                    "n_train_rows": len(train_df),
                    "n_features": len(features),
                }
            )
            if metrics:
                mlflow.log_metrics({str(key): float(value) for key, value in metrics.items()})
            if importance is not None:
                mlflow.log_dict(importance, _FEATURE_IMPORTANCE_ARTIFACT)
            info = mlflow.sklearn.log_model(
                pipeline,
                name=_MODEL_ARTIFACT_NAME,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                skops_trusted_types=trusted,
                signature=signature,
                input_example=features_df.head(5),
                pip_requirements=_pip_requirements(),
            )
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = client.create_model_version(
            name=name,
            source=info.model_uri,
            run_id=run.info.run_id,
            tags=version_tags,
            description=description,
            model_id=info.model_id,
        )
    return RegisteredModelVersion(
        name=name,
        version=str(version.version),
        run_id=run.info.run_id,
        model_uri=f"models:/{name}/{version.version}",
        task=task,
        target=target,
        feature_names=features,
        classes=classes,
        aliases=list(version.aliases or []),
        tags=dict(version.tags or {}),
        feature_importance=importance,
    )


def _as_model_uri(ref: str | RegisteredModelVersion) -> str:
    """Accept ``models:/...`` / ``runs:/...`` URIs, ``name/version`` or ``name@alias``."""
    if isinstance(ref, RegisteredModelVersion):
        return ref.model_uri
    if ":/" in ref:
        return ref
    if "@" in ref or "/" in ref:
        return f"models:/{ref}"
    raise ValueError(f"{ref!r} is not a model URI, 'name/version' or 'name@alias'")


def load_model(
    model_uri_or_name_version: str | RegisteredModelVersion,
    tracking_uri: str,
    registry_uri: str | None = None,
) -> Any:
    """The registered scikit-learn pipeline itself (not a pyfunc), so ``predict_proba`` is available."""
    uri = _as_model_uri(model_uri_or_name_version)
    with _using(tracking_uri, registry_uri):
        return mlflow.sklearn.load_model(uri)


def _from_model_version(version: ModelVersion) -> RegisteredModelVersion:
    tags = dict(version.tags or {})
    classes = tags.get(TAG_CLASSES)
    importance = tags.get(TAG_FEATURE_IMPORTANCE)
    return RegisteredModelVersion(
        name=version.name,
        version=str(version.version),
        run_id=version.run_id,
        model_uri=f"models:/{version.name}/{version.version}",
        task=tags.get(TAG_TASK, ""),
        target=tags.get(TAG_TARGET, ""),
        feature_names=json.loads(tags.get(TAG_FEATURES, "[]")),
        classes=json.loads(classes) if classes is not None else None,
        aliases=list(version.aliases or []),
        tags=tags,
        feature_importance=json.loads(importance) if importance is not None else None,
    )


def get_model_version(
    name: str, version: str | int, *, tracking_uri: str, registry_uri: str | None = None
) -> RegisteredModelVersion:
    with _using(tracking_uri, registry_uri) as client:
        return _from_model_version(client.get_model_version(name, str(version)))


def set_alias(
    name: str, alias: str, version: str | int, *, tracking_uri: str, registry_uri: str | None = None
) -> None:
    """Point ``alias`` at ``version``, moving it off whichever version held it."""
    with _using(tracking_uri, registry_uri) as client:
        client.set_registered_model_alias(name, alias, str(version))


def delete_alias(name: str, alias: str, *, tracking_uri: str, registry_uri: str | None = None) -> None:
    with _using(tracking_uri, registry_uri) as client:
        client.delete_registered_model_alias(name, alias)


def get_version_by_alias(
    name: str, alias: str, *, tracking_uri: str, registry_uri: str | None = None
) -> RegisteredModelVersion | None:
    """The version ``alias`` points at, or ``None`` when nothing holds it (e.g. no champion yet)."""
    with _using(tracking_uri, registry_uri) as client:
        try:
            version = client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            # A missing model says RESOURCE_DOES_NOT_EXIST; a missing alias on an
            # existing model says INVALID_PARAMETER_VALUE "... not found".
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
                exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in exc.message
            ):
                return None
            raise
    return _from_model_version(version)
