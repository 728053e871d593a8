"""The contract a model family meets, and the registry the sweep draws from.

A family owns everything model-specific (search space, known-good defaults,
how to build the estimator) so the sweep stays generic: adding a family is one
module calling :func:`register_family`, with no edit to the sweep.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol, runtime_checkable

from optuna.distributions import CategoricalChoiceType

from airflow_mlops.automl.task import TASK_TYPES, TaskType

#: Separates a family's name from its own parameter name in an Optuna trial.
PARAM_SEPARATOR = "__"


class TrialLike(Protocol):
    """The part of :class:`optuna.trial.Trial` a family's search space needs.

    Families get a :class:`ScopedTrial`, not the trial itself, so they can name
    parameters plainly ("max_depth") without clashing with another family's
    parameter of the same name but a different range or type.
    """

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoiceType]
    ) -> CategoricalChoiceType: ...


def scoped_param_name(family: str, param: str) -> str:
    return f"{family}{PARAM_SEPARATOR}{param}"


class ScopedTrial:
    """A trial whose parameter names are prefixed with the family's name."""

    def __init__(self, trial: TrialLike, family: str) -> None:
        self._trial = trial
        self._family = family

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return self._trial.suggest_float(scoped_param_name(self._family, name), low, high, step=step, log=log)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self._trial.suggest_int(scoped_param_name(self._family, name), low, high, step=step, log=log)

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoiceType]
    ) -> CategoricalChoiceType:
        return self._trial.suggest_categorical(scoped_param_name(self._family, name), choices)


@runtime_checkable
class ModelFamily(Protocol):
    """One kind of model the sweep can try.

    ``default_params`` must return a point of the ``suggest`` space (same keys,
    values inside the ranges): the sweep enqueues it as the first trial of the
    family, so every family gets a known-good score before the search wanders.
    ``needs_scaling`` asks the preprocessor to standardise numbers, which
    matters for penalised linear models and is wasted work for trees.
    """

    name: str
    tasks: frozenset[TaskType]
    needs_scaling: bool

    def default_params(self, task: TaskType) -> dict[str, Any]: ...

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]: ...

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any: ...


_REGISTRY: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily, *, replace: bool = False) -> ModelFamily:
    """Make a family available to sweeps; registration order is the warm-start order."""
    if not isinstance(family, ModelFamily):
        raise TypeError(f"{family!r} does not implement ModelFamily")
    if not family.name or PARAM_SEPARATOR in family.name:
        raise ValueError(f"family name {family.name!r} must be non-empty and not contain {PARAM_SEPARATOR!r}")
    bad_tasks = set(family.tasks) - set(TASK_TYPES)
    if not family.tasks or bad_tasks:
        raise ValueError(f"family {family.name!r} has invalid tasks {sorted(family.tasks)}")
    if family.name in _REGISTRY and not replace:
        raise ValueError(f"a family named {family.name!r} is already registered")
    _REGISTRY[family.name] = family
    return family


def unregister_family(name: str) -> None:
    """Drop a family; mostly for tests that register a throwaway one."""
    _REGISTRY.pop(name, None)


def get_family(name: str) -> ModelFamily:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown model family {name!r}; registered families are {', '.join(map(repr, _REGISTRY))}"
        ) from None


def family_names(task: TaskType | None = None) -> list[str]:
    """Registered family names, in registration order, optionally only those supporting ``task``."""
    return [name for name, family in _REGISTRY.items() if task is None or task in family.tasks]


def resolve_families(names: Collection[str] | None, task: TaskType) -> list[ModelFamily]:
    """The families a sweep for ``task`` should try, refusing ones that cannot do the task."""
    if names is None:
        chosen = [_REGISTRY[name] for name in family_names(task)]
        if not chosen:
            raise ValueError(f"no registered model family supports task {task!r}")
        return chosen
    if not names:
        raise ValueError("families is empty; pass None to use every family for the task")
    chosen = [get_family(name) for name in dict.fromkeys(names)]
    unfit = [family.name for family in chosen if task not in family.tasks]
    if unfit:
        raise ValueError(
            f"families {unfit} do not support task {task!r}; those that do: {family_names(task)}"
        )
    return chosen
