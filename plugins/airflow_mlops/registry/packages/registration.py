"""Registering the kinds of package that ``register_model`` does not: custom pyfuncs and external models.

Everything is checked before the registry is touched; the version then gets
the tags of :mod:`.metadata`, so it is served and monitored like any other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import mlflow.models
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from airflow_mlops.registry.mlflow_context import mlflow_stores
from airflow_mlops.registry.models import RegisteredModelVersion, get_or_create_experiment, quiet_mlflow_logs
from airflow_mlops.registry.packages.metadata import (
    FEATURE_TYPES,
    TAG_FEATURE_TYPES,
    check_classes,
    check_features,
    check_name,
    check_task,
    checked_user_tags,
    package_tags,
)

#: Where an external model's schema document lives, inside its registration run and its version.
EXTERNAL_ARTIFACT_DIR = "external_model"
EXTERNAL_SCHEMA_FILE = "external_model.json"
EXTERNAL_EXPERIMENT = "external-models"
_SCHEMA_FORMAT_VERSION = 1


@contextmanager
def _mlflow(tracking_uri: str, registry_uri: str | None) -> Iterator[MlflowClient]:
    """MLflow pointed at these stores for the block (see :mod:`~airflow_mlops.registry.mlflow_context`), logs quiet."""
    quiet_mlflow_logs()
    with mlflow_stores(tracking_uri, registry_uri) as client:
        yield client


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _registered(
    version: Any, *, target: str, task: str, features: list[str], classes: list[Any] | None
) -> RegisteredModelVersion:
    return RegisteredModelVersion(
        name=version.name,
        version=str(version.version),
        run_id=version.run_id,
        model_uri=f"models:/{version.name}/{version.version}",
        task=task,
        target=target,
        feature_names=list(features),
        classes=classes,
        aliases=list(version.aliases or []),
        tags=dict(version.tags or {}),
    )


def _check_signature(model_uri: str, signature: Any, features: list[str]) -> None:
    """The features must be among the signature's inputs, and its required inputs among the features.

    The second rule matters because callers pass exactly the deployment's
    features: a required input outside them would fail every prediction.
    Tensor signatures have no column names and are not checked.
    """
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return
    names = [str(name) for name in signature.inputs.input_names()]
    missing = [name for name in features if name not in names]
    if missing:
        raise ValueError(
            f"the signature of {model_uri!r} lacks input columns for features {missing}; "
            f"its inputs are {names}"
        )
    required = [str(name) for name in signature.inputs.required_input_names()]
    extra = [name for name in required if name not in features]
    if extra:
        raise ValueError(
            f"the signature of {model_uri!r} requires inputs {extra} that are not among the features; "
            "add them to features or make them optional"
        )


def register_custom_model(
    model_uri: str,
    *,
    name: str,
    target: str,
    task: str,
    features: list[str],
    classes: list[Any] | None = None,
    tracking_uri: str,
    registry_uri: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> RegisteredModelVersion:
    """Register an already-logged MLflow pyfunc model as a new version of ``name``.

    ``model_uri`` is what ``mlflow.pyfunc.log_model`` gave back
    (``models:/<model_id>``) or ``runs:/<run_id>/<name>``. Everything is
    checked before the registry is touched: the URI must resolve to a model
    with the pyfunc flavor, and its signature (if it has named inputs) must
    cover the features. The version points at the logged model itself, so
    MLflow keeps the link between the version, its run and its LoggedModel.

    Predictions follow the convention of :func:`load_predictor`: a pyfunc
    returning a DataFrame with one column per class gives probabilities;
    anything else one label (or value) per row.
    """
    check_name(name)
    check_task(task)
    features = list(features)
    check_features(features, target)
    plain_classes = check_classes(task, classes)
    user_tags = checked_user_tags(tags)
    if not isinstance(model_uri, str) or not model_uri.startswith(("runs:/", "models:/")):
        raise ValueError(
            f"model_uri={model_uri!r} is not a logged MLflow model; log it first with "
            "mlflow.pyfunc.log_model and pass its models:/<model_id> or runs:/<run_id>/<name> URI"
        )
    version_tags = {
        **user_tags,
        **package_tags(kind="custom", target=target, task=task, features=features, classes=plain_classes),
    }
    with _mlflow(tracking_uri, registry_uri) as client:
        try:
            info = mlflow.models.get_model_info(model_uri)
        except (MlflowException, OSError) as exc:
            raise ValueError(f"model_uri={model_uri!r} does not resolve to an MLflow model: {exc}") from exc
        if "python_function" not in (info.flavors or {}):
            raise ValueError(
                f"{model_uri!r} has no python_function flavor (flavors: {sorted(info.flavors or {})}); "
                "custom models are served through mlflow.pyfunc"
            )
        _check_signature(model_uri, info.signature, features)
        _ensure_registered_model(client, name)
        version = client.create_model_version(
            name=name,
            source=f"models:/{info.model_id}" if info.model_id else model_uri,
            run_id=info.run_id,
            tags=version_tags,
            description=description,
            model_id=info.model_id,
        )
    return _registered(version, target=target, task=task, features=features, classes=plain_classes)


def register_external_model(
    *,
    name: str,
    target: str,
    task: str,
    features: Mapping[str, str],
    classes: list[Any] | None = None,
    tracking_uri: str,
    registry_uri: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    experiment_name: str = EXTERNAL_EXPERIMENT,
    artifact_location: str | None = None,
) -> RegisteredModelVersion:
    """Register a model that predicts elsewhere: a schema, no artifact.

    ``features`` maps each input column to its logical type (``numeric`` or
    ``categorical``), which monitoring needs to bin reported rows without a
    model to ask. The schema is written as ``external_model.json`` in a short
    MLflow run of ``experiment_name`` (the registry needs a source to point
    at), and the version's source is that directory, so downloading the
    version yields the schema and nothing loadable. ``artifact_location`` is
    only used when the experiment has to be created.
    """
    check_name(name)
    check_task(task)
    feature_types = {str(key): value for key, value in dict(features).items()}
    feature_names = list(feature_types)
    check_features(feature_names, target)
    bad_types = {key: value for key, value in feature_types.items() if value not in FEATURE_TYPES}
    if bad_types:
        raise ValueError(f"feature types must be one of {FEATURE_TYPES}, got {bad_types}")
    plain_classes = check_classes(task, classes)
    user_tags = checked_user_tags(tags)
    schema = {
        "format_version": _SCHEMA_FORMAT_VERSION,
        "kind": "external",
        "name": name,
        "target": target,
        "task": task,
        "features": [{"name": key, "type": value} for key, value in feature_types.items()],
        "classes": plain_classes,
        "description": description,
    }
    version_tags = {
        **user_tags,
        **package_tags(
            kind="external", target=target, task=task, features=feature_names, classes=plain_classes
        ),
        TAG_FEATURE_TYPES: json.dumps(feature_types),
    }
    with _mlflow(tracking_uri, registry_uri) as client:
        experiment_id = get_or_create_experiment(client, experiment_name, artifact_location)
        # The client API rather than start_run: a caller's active run is neither nested into nor ended.
        run = client.create_run(
            experiment_id,
            run_name=f"external-{name}",
            tags={**user_tags, "airflow_mlops.kind": "external_model_registration"},
        )
        run_id = run.info.run_id
        try:
            client.log_dict(run_id, schema, f"{EXTERNAL_ARTIFACT_DIR}/{EXTERNAL_SCHEMA_FILE}")
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id)
        _ensure_registered_model(client, name)
        version = client.create_model_version(
            name=name,
            source=f"runs:/{run_id}/{EXTERNAL_ARTIFACT_DIR}",
            run_id=run_id,
            tags=version_tags,
            description=description,
        )
    return _registered(version, target=target, task=task, features=feature_names, classes=plain_classes)
