"""The three kinds of model package the registry holds, and one way to predict with any of them.

- **automl**: a scikit-learn pipeline built by our sweep and registered with
  :func:`airflow_mlops.registry.register_model` (its versions carry no ``kind``
  tag; they predate the other kinds).
- **custom**: any MLflow pyfunc the user logged (``mlflow.pyfunc.log_model``),
  registered with :func:`register_custom_model`.
- **external**: a registry entry with a schema and no model artifact; its
  predictions are made elsewhere and reported back for monitoring. Registered
  with :func:`register_external_model`.

All three carry the same version tags (``target``, ``task``, ``features``,
``classes``, ``family``), so deployments and monitoring decide from metadata
alone, whatever the kind. :func:`load_predictor` hides the kind behind one
:class:`Predictor` interface, and :func:`monitored_values` is the single
definition of the value target drift watches.

Like ``registry.models``, every public function takes the tracking URI
explicitly: MLflow's process-wide default would silently write to ``./mlruns``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from airflow_mlops.registry.mlflow_context import mlflow_stores
from airflow_mlops.registry.models import (
    RESERVED_TAGS,
    TAG_CLASSES,
    TAG_FEATURES,
    TAG_TARGET,
    TAG_TASK,
    RegisteredModelVersion,
    get_model_version,
    get_or_create_experiment,
    get_version_by_alias,
    load_model,
    quiet_mlflow_logs,
)

MODEL_KINDS: tuple[str, ...] = ("automl", "custom", "external")
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
FEATURE_TYPES: tuple[str, ...] = ("numeric", "categorical")

TAG_KIND = "kind"
TAG_FAMILY = "family"
TAG_FEATURE_TYPES = "feature_types"
#: Tags this module or ``register_model`` fills in; user tags may not reuse them, since
#: deployments and monitoring parse them.
PACKAGE_RESERVED_TAGS = RESERVED_TAGS | {TAG_KIND, TAG_FAMILY, TAG_FEATURE_TYPES}

#: Where an external model's schema document lives, inside its registration run and its version.
EXTERNAL_ARTIFACT_DIR = "external_model"
EXTERNAL_SCHEMA_FILE = "external_model.json"
EXTERNAL_EXPERIMENT = "external-models"
_SCHEMA_FORMAT_VERSION = 1

#: Tolerance for a custom model's class probabilities summing to one (float32 models round).
_PROBABILITY_TOLERANCE = 1e-3

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class ExternalModelError(RuntimeError):
    """Raised when something asks an external model for predictions it cannot make here.

    The prediction API turns it into a 409/422 carrying this message, so the
    caller learns where the predictions should come from instead.
    """

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        super().__init__(
            f"predictions for external model {model_id!r} are made elsewhere; report them for "
            "monitoring with airflow_mlops.serving.report_predictions(deployment_id, frame, "
            "prediction_column=...) instead of requesting them from this server"
        )


# ---- kinds ---------------------------------------------------------------------------------


def model_kind(tags: Mapping[str, str]) -> str:
    """The package kind recorded in a version's tags.

    Versions registered by ``register_model`` have no ``kind`` tag and are
    AutoML pipelines; an unknown value is refused rather than guessed, because
    serving it the wrong way would fail at the first prediction.
    """
    kind = tags.get(TAG_KIND, "automl")
    if kind not in MODEL_KINDS:
        raise ValueError(
            f"unknown model kind {kind!r} in the version's {TAG_KIND!r} tag; expected one of {MODEL_KINDS}"
        )
    return kind


# ---- validation ----------------------------------------------------------------------------


def _check_name(name: str) -> None:
    # Same rule as registry.models: "/" and "@" would make "name/version" and "name@alias" ambiguous.
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"model name {name!r} must be letters, digits, '_', '.', '-' (no '/', '@', spaces)")


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not one of {TASKS}")


def _check_features(features: list[str], target: str) -> None:
    if not isinstance(target, str) or not target:
        raise ValueError("target must be a non-empty string")
    if not features:
        raise ValueError("features must name at least one input column")
    bad = [name for name in features if not isinstance(name, str) or not name]
    if bad:
        raise ValueError(f"feature names must be non-empty strings, got {bad}")
    duplicates = sorted({name for name in features if features.count(name) > 1})
    if duplicates:
        raise ValueError(f"features must be unique; repeated: {duplicates}")
    if target in features:
        raise ValueError(f"target {target!r} is among the features")


def _check_classes(task: str, classes: list[Any] | None) -> list[Any] | None:
    """Class labels as plain JSON scalars, in the order probabilities will be given.

    The positive class of a binary model is the last one, as for scikit-learn's
    ``classes_`` (``predict_proba[:, -1]``), so monitoring treats every kind alike.
    """
    if task == "regression":
        if classes is not None:
            raise ValueError("classes must be None for a regression model")
        return None
    if not classes:
        raise ValueError(f"classes are required for a {task} model (the last one is the positive class)")
    plain = [value.item() if hasattr(value, "item") else value for value in classes]
    if any(not isinstance(value, str | int | float | bool) for value in plain):
        raise ValueError(f"classes must be strings or numbers, got {classes!r}")
    if len(set(plain)) != len(plain):
        raise ValueError(f"classes must be unique, got {plain!r}")
    if task == "binary" and len(plain) != 2:
        raise ValueError(f"a binary model has exactly two classes, got {plain!r}")
    if task == "multiclass" and len(plain) < 3:
        raise ValueError(f"a multiclass model has at least three classes, got {plain!r}; use task='binary'")
    return plain


def _user_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    user = {str(key): str(value) for key, value in (tags or {}).items()}
    clash = sorted(PACKAGE_RESERVED_TAGS & set(user))
    if clash:
        raise ValueError(f"tags may not set reserved keys {clash}; they are filled in from the arguments")
    return user


def _version_tags(
    *, kind: str, target: str, task: str, features: list[str], classes: list[Any] | None
) -> dict[str, str]:
    tags = {
        TAG_KIND: kind,
        TAG_FAMILY: kind,
        TAG_TARGET: target,
        TAG_TASK: task,
        TAG_FEATURES: json.dumps(features),
    }
    if classes is not None:
        tags[TAG_CLASSES] = json.dumps(classes)
    return tags


@contextmanager
def _mlflow(tracking_uri: str, registry_uri: str | None) -> Iterator[MlflowClient]:
    """MLflow pointed at these stores for the block (see :mod:`.mlflow_context`), logs quiet."""
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


# ---- registration --------------------------------------------------------------------------


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
    _check_name(name)
    _check_task(task)
    features = list(features)
    _check_features(features, target)
    plain_classes = _check_classes(task, classes)
    user_tags = _user_tags(tags)
    if not isinstance(model_uri, str) or not model_uri.startswith(("runs:/", "models:/")):
        raise ValueError(
            f"model_uri={model_uri!r} is not a logged MLflow model; log it first with "
            "mlflow.pyfunc.log_model and pass its models:/<model_id> or runs:/<run_id>/<name> URI"
        )
    version_tags = {
        **user_tags,
        **_version_tags(kind="custom", target=target, task=task, features=features, classes=plain_classes),
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
    _check_name(name)
    _check_task(task)
    feature_types = {str(key): value for key, value in dict(features).items()}
    feature_names = list(feature_types)
    _check_features(feature_names, target)
    bad_types = {key: value for key, value in feature_types.items() if value not in FEATURE_TYPES}
    if bad_types:
        raise ValueError(f"feature types must be one of {FEATURE_TYPES}, got {bad_types}")
    plain_classes = _check_classes(task, classes)
    user_tags = _user_tags(tags)
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
        **_version_tags(
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


# ---- prediction ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionOutput:
    """What a model says about a batch of rows, whatever its kind.

    ``labels``: the predicted class (classification) or value (regression) per
    row. ``probabilities``: one row per input and one column per entry of
    ``classes``, in that order, or ``None`` when the model gives no
    probabilities (regression, custom models returning labels). ``classes``
    travels with the output so :func:`monitored_values` can map labels to 0/1.
    """

    labels: np.ndarray
    probabilities: np.ndarray | None = None
    classes: list[Any] | None = None


@runtime_checkable
class Predictor(Protocol):
    """A registered model version ready to predict (or to explain why it cannot)."""

    @property
    def model_id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def task(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def features(self) -> list[str]: ...

    @property
    def classes(self) -> list[Any] | None: ...

    def predict(self, x: pd.DataFrame) -> PredictionOutput:
        """Predict for ``x`` (at least the model's features; other columns are ignored)."""
        ...


def _select(x: pd.DataFrame, features: list[str], model_id: str) -> pd.DataFrame:
    missing = [name for name in features if name not in x.columns]
    if missing:
        raise ValueError(f"model {model_id!r} needs columns {missing} that the input lacks")
    return x[features]


def _class_codes(labels: Any, classes: list[Any], who: str) -> np.ndarray:
    """Each label's position in ``classes``; labels outside ``classes`` are an error, not a guess."""
    index = {value: position for position, value in enumerate(classes)}
    codes = [index.get(label.item() if hasattr(label, "item") else label, -1) for label in labels]
    unknown = sorted({str(label) for label, code in zip(labels, codes, strict=True) if code < 0})
    if unknown:
        raise ValueError(f"{who} labels {unknown} that are not among its classes {classes}")
    return np.asarray(codes, dtype=int)


def _labels_from_codes(codes: np.ndarray, classes: list[Any]) -> np.ndarray:
    # object dtype keeps the classes' own values (no int → str coercion of mixed labels).
    return np.array(classes, dtype=object)[codes]


@dataclass(frozen=True)
class AutoMLPredictor:
    """A scikit-learn pipeline from our sweep: probabilities from ``predict_proba``."""

    model_id: str
    task: str
    target: str
    features: list[str]
    classes: list[Any] | None
    pipeline: Any

    @property
    def kind(self) -> str:
        return "automl"

    def predict(self, x: pd.DataFrame) -> PredictionOutput:
        rows = _select(x, self.features, self.model_id)
        if self.task == "regression":
            return PredictionOutput(labels=np.asarray(self.pipeline.predict(rows), dtype=float))
        classes = self.classes or []
        proba = np.asarray(self.pipeline.predict_proba(rows), dtype=float)
        # The label is the most probable class, so label and probabilities never disagree.
        return PredictionOutput(
            labels=_labels_from_codes(proba.argmax(axis=1), classes), probabilities=proba, classes=classes
        )


def _probabilities(frame: pd.DataFrame, classes: list[Any], model_id: str) -> np.ndarray:
    by_name = {str(column): column for column in frame.columns}
    ordered = frame[[by_name[str(value)] for value in classes]]
    try:
        proba = ordered.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"custom model {model_id!r} returned non-numeric class probabilities: {exc}"
        ) from exc
    if (
        not np.isfinite(proba).all()
        or (proba < -_PROBABILITY_TOLERANCE).any()
        or (proba > 1 + _PROBABILITY_TOLERANCE).any()
    ):
        raise ValueError(f"custom model {model_id!r} returned class probabilities outside [0, 1]")
    sums = proba.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=_PROBABILITY_TOLERANCE):
        raise ValueError(
            f"custom model {model_id!r} returned class probabilities that do not sum to 1 per row "
            f"(e.g. {float(sums[np.argmax(np.abs(sums - 1.0))]):.4f})"
        )
    return proba


@dataclass(frozen=True)
class PyfuncPredictor:
    """A user's MLflow pyfunc, read with this convention for its output.

    - a DataFrame whose columns are exactly the classes (any order, matched by
      their string form) → class probabilities; the label is the most probable;
    - a one-column DataFrame, a Series, a list or a 1-D array (or ``(n, 1)``
      array) → one label per row (classification; each must be one of the
      classes) or one value per row (regression);
    - anything else is refused with this convention in the message.
    """

    model_id: str
    task: str
    target: str
    features: list[str]
    classes: list[Any] | None
    model: Any

    @property
    def kind(self) -> str:
        return "custom"

    def predict(self, x: pd.DataFrame) -> PredictionOutput:
        rows = _select(x, self.features, self.model_id)
        raw = self.model.predict(rows)
        return self._read(raw, len(rows))

    def _read(self, raw: Any, n_rows: int) -> PredictionOutput:
        classes = self.classes
        if isinstance(raw, pd.DataFrame):
            columns = {str(column) for column in raw.columns}
            if (
                classes is not None
                and len(raw.columns) == len(classes)
                and columns == {str(c) for c in classes}
            ):
                self._check_rows(len(raw), n_rows)
                proba = _probabilities(raw, classes, self.model_id)
                return PredictionOutput(
                    labels=_labels_from_codes(proba.argmax(axis=1), classes),
                    probabilities=proba,
                    classes=classes,
                )
            if len(raw.columns) != 1:
                raise ValueError(self._convention(f"a DataFrame with columns {list(raw.columns)}"))
            raw = raw.iloc[:, 0]
        values = np.asarray(raw)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValueError(self._convention(f"an array of shape {values.shape}"))
        self._check_rows(len(values), n_rows)
        if self.task == "regression":
            try:
                return PredictionOutput(labels=values.astype(float))
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"custom regression model {self.model_id!r} returned non-numeric values"
                ) from exc
        assert classes is not None  # classification versions always carry classes
        codes = _class_codes(values, classes, f"custom model {self.model_id!r} predicted")
        return PredictionOutput(labels=_labels_from_codes(codes, classes), classes=classes)

    def _check_rows(self, got: int, expected: int) -> None:
        if got != expected:
            raise ValueError(f"custom model {self.model_id!r} returned {got} predictions for {expected} rows")

    def _convention(self, what: str) -> str:
        wanted = (
            f"a DataFrame with one column per class {self.classes} or one label per row"
            if self.classes is not None
            else "one value per row"
        )
        return f"custom model {self.model_id!r} returned {what}; expected {wanted}"


@dataclass(frozen=True)
class ExternalPredictor:
    """An external model: known schema, predictions reported from elsewhere."""

    model_id: str
    task: str
    target: str
    features: list[str]
    classes: list[Any] | None
    feature_types: dict[str, str]

    @property
    def kind(self) -> str:
        return "external"

    def predict(self, x: pd.DataFrame) -> PredictionOutput:
        raise ExternalModelError(self.model_id)


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
    with _mlflow(tracking_uri, registry_uri):
        version = _resolve(ref_or_uri, tracking_uri, registry_uri)
        model_id = f"{version.name}/{version.version}"
        missing = [key for key in (TAG_TARGET, TAG_TASK, TAG_FEATURES) if key not in version.tags]
        if missing:
            raise ValueError(f"model {model_id!r} lacks the registry tags {missing}; it cannot be served")
        _check_task(version.task)
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
        return AutoMLPredictor(**common, pipeline=pipeline)


# ---- monitoring ----------------------------------------------------------------------------


def monitored_values(task: str, output: PredictionOutput) -> np.ndarray:
    """The value target drift watches, one per row: the single definition for every kind.

    Binary: the positive (last) class's probability, so drift shows before
    labels flip; without probabilities, the label mapped to 0/1 by its
    position in ``classes``. Multiclass: the label as text (the prediction log and
    the baseline bin categories as text, so ``1`` and ``"1"`` must not differ).
    Regression: the value.
    """
    _check_task(task)
    if task == "regression":
        return np.asarray(output.labels, dtype=float)
    if task == "multiclass":
        return np.asarray([str(label) for label in output.labels], dtype=object)
    if output.probabilities is not None:
        return np.asarray(output.probabilities, dtype=float)[:, -1]
    if output.classes is None or len(output.classes) != 2:
        raise ValueError(
            f"a binary output without probabilities needs its two classes to map labels to 0/1, "
            f"got classes={output.classes!r}"
        )
    return _class_codes(output.labels, output.classes, "the binary output has").astype(float)
