"""What a model package's registry version records: its kind and the tags every kind carries.

All three kinds carry the same version tags (``target``, ``task``,
``features``, ``classes``, ``family``), so deployments and monitoring decide
from metadata alone, whatever the kind; the checks here run before the
registry is touched, so a bad argument leaves nothing half-registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_mlops.registry.models import RESERVED_TAGS, TAG_CLASSES, TAG_FEATURES, TAG_TARGET, TAG_TASK

MODEL_KINDS: tuple[str, ...] = ("automl", "custom", "external")
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
FEATURE_TYPES: tuple[str, ...] = ("numeric", "categorical")

TAG_KIND = "kind"
TAG_FAMILY = "family"
TAG_FEATURE_TYPES = "feature_types"
#: Tags the package registration or ``register_model`` fills in; user tags may not reuse them, since
#: deployments and monitoring parse them.
PACKAGE_RESERVED_TAGS = RESERVED_TAGS | {TAG_KIND, TAG_FAMILY, TAG_FEATURE_TYPES}

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


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


def check_name(name: str) -> None:
    # Same rule as registry.models: "/" and "@" would make "name/version" and "name@alias" ambiguous.
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"model name {name!r} must be letters, digits, '_', '.', '-' (no '/', '@', spaces)")


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not one of {TASKS}")


def check_features(features: list[str], target: str) -> None:
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


def check_classes(task: str, classes: list[Any] | None) -> list[Any] | None:
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


def checked_user_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's tags as strings; a reserved key is refused, since deployments and monitoring parse it."""
    user = {str(key): str(value) for key, value in (tags or {}).items()}
    clash = sorted(PACKAGE_RESERVED_TAGS & set(user))
    if clash:
        raise ValueError(f"tags may not set reserved keys {clash}; they are filled in from the arguments")
    return user


def package_tags(
    *, kind: str, target: str, task: str, features: list[str], classes: list[Any] | None
) -> dict[str, str]:
    """The tags every kind's version carries (``family`` is the kind: no sweep chose a family)."""
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
