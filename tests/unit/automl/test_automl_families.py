from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.dummy import DummyRegressor

from airflow_mlops.automl import fit_pipeline
from airflow_mlops.automl.families import (
    ModelFamily,
    ScopedTrial,
    TrialLike,
    family_names,
    get_family,
    register_family,
    resolve_families,
    scoped_param_name,
    unregister_family,
)
from airflow_mlops.automl.task import TaskType

CORE = ["linear", "hist_gradient_boosting", "random_forest", "extra_trees", "knn"]
OPTIONAL = [
    name for name in ("lightgbm", "xgboost", "catboost") if importlib.util.find_spec(name) is not None
]
BUILTIN = [name for name in family_names() if name in CORE + OPTIONAL]
CASES = [(name, task) for name in BUILTIN for task in ("binary", "multiclass", "regression")]


def _data(task: TaskType, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    if task == "regression":
        X, y = make_regression(n_samples=n, n_features=5, noise=5.0, random_state=1)
    else:
        X, y = make_classification(
            n_samples=n,
            n_features=5,
            n_informative=3,
            n_classes=2 if task == "binary" else 3,
            random_state=1,
        )
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    df["shop"] = rng.choice(["north", "south", "east"], n)
    df.loc[::10, "x0"] = np.nan
    df["target"] = y if task == "regression" else np.array(["a", "b", "c"])[y]
    return df


class _RegressionOnly:
    name = "dummy_regression"
    tasks: frozenset[TaskType] = frozenset({"regression"})
    needs_scaling = False

    def default_params(self, task: TaskType) -> dict[str, Any]:
        return {"strategy": "mean"}

    def suggest(self, trial: TrialLike, task: TaskType) -> dict[str, Any]:
        return {"strategy": trial.suggest_categorical("strategy", ["mean", "median"])}

    def build(self, params: dict[str, Any], task: TaskType, seed: int) -> Any:
        return DummyRegressor(**params)


@pytest.fixture
def dummy_family() -> Iterator[ModelFamily]:
    family = register_family(_RegressionOnly())
    yield family
    unregister_family(family.name)


def test_builtin_families_registered_in_warm_start_order() -> None:
    names = family_names()
    assert set(CORE + OPTIONAL) <= set(names)
    if "lightgbm" in names:
        assert names[0] == "lightgbm", "the strongest cheap family warms up first"
    assert names.index("linear") < names.index("knn"), "slow-to-predict neighbours run last"


@pytest.mark.parametrize("blocked", ["lightgbm", "xgboost", "catboost"])
def test_optional_family_is_skipped_cleanly_when_its_package_is_absent(blocked: str) -> None:
    """A process where the package cannot be imported registers every other family and names the rest."""
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from airflow_mlops.automl import family_names, SweepConfig\n"
        "from airflow_mlops.automl.families import OPTIONAL_FAMILIES\n"
        "print(sorted(family_names()), OPTIONAL_FAMILIES)\n"
        f"SweepConfig(target='y', families=[{blocked!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert f"'{blocked}': False" in proc.stdout
    assert f"'{blocked}'," not in proc.stdout.split("{")[0]
    assert f"unknown model family {blocked!r}; registered families are" in proc.stderr


def test_builtin_families_implement_the_protocol() -> None:
    for name in BUILTIN:
        assert isinstance(get_family(name), ModelFamily)
    assert get_family("linear").needs_scaling
    assert not get_family("hist_gradient_boosting").needs_scaling


def test_unknown_family_lists_registered_names() -> None:
    with pytest.raises(ValueError, match=r"unknown model family 'tabpfn'.*'linear'.*'random_forest'"):
        get_family("tabpfn")


def test_family_names_filter_by_task(dummy_family: ModelFamily) -> None:
    assert "dummy_regression" in family_names("regression")
    assert "dummy_regression" not in family_names("binary")
    assert "dummy_regression" in family_names()


def test_registration_is_validated(dummy_family: ModelFamily) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_family(_RegressionOnly())
    assert register_family(_RegressionOnly(), replace=True).name == "dummy_regression"
    with pytest.raises(TypeError):
        register_family(object())  # type: ignore[arg-type]
    bad = _RegressionOnly()
    bad.tasks = frozenset({"ranking"})  # type: ignore[arg-type]
    bad.name = "bad_tasks"
    with pytest.raises(ValueError, match="invalid tasks"):
        register_family(bad)
    assert "bad_tasks" not in family_names()


def test_resolve_families(dummy_family: ModelFamily) -> None:
    assert [f.name for f in resolve_families(None, "binary")] == BUILTIN
    assert [f.name for f in resolve_families(["random_forest", "linear"], "binary")] == [
        "random_forest",
        "linear",
    ]
    with pytest.raises(ValueError, match=r"\['dummy_regression'\] do not support task 'binary'"):
        resolve_families(["linear", "dummy_regression"], "binary")
    with pytest.raises(ValueError, match="empty"):
        resolve_families([], "binary")


@pytest.mark.parametrize(("name", "task"), CASES)
def test_defaults_are_a_point_of_the_search_space(name: str, task: TaskType) -> None:
    family = get_family(name)
    defaults = family.default_params(task)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({scoped_param_name(name, k): v for k, v in defaults.items()})
    trial = study.ask()
    suggested = family.suggest(ScopedTrial(trial, name), task)
    assert suggested == defaults
    # Parameters are namespaced in Optuna, so families never clash on a name.
    assert set(trial.params) == {scoped_param_name(name, k) for k in defaults}


@pytest.mark.parametrize(("name", "task"), CASES)
def test_family_fits_and_predicts(name: str, task: TaskType) -> None:
    family = get_family(name)
    df = _data(task)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for params in (family.default_params(task), family.suggest(ScopedTrial(study.ask(), name), task)):
        pipe = fit_pipeline(df, "target", name, params, task, seed=0)
        predictions = pipe.predict(df.drop(columns="target"))
        assert predictions.shape == (len(df),)
        if task == "regression":
            assert np.corrcoef(predictions, df["target"])[0, 1] > 0.5
        else:
            proba = pipe.predict_proba(df.drop(columns="target"))
            assert proba.shape == (len(df), 2 if task == "binary" else 3)
            assert np.allclose(proba.sum(axis=1), 1.0)
            # Better than always guessing the majority class.
            assert (predictions == df["target"]).mean() > df["target"].value_counts(normalize=True).max()


@pytest.mark.parametrize("name", BUILTIN)
def test_build_is_seeded(name: str) -> None:
    family = get_family(name)
    first = family.build(family.default_params("binary"), "binary", 7)
    second = family.build(family.default_params("binary"), "binary", 7)
    # repr: nested estimators (the XGBoost wrapper) are distinct objects, and NaN != NaN.
    assert repr(first.get_params()) == repr(second.get_params())
    for key in ("random_state", "random_seed"):  # CatBoost calls it random_seed
        if key in first.get_params():
            assert first.get_params()[key] == 7
