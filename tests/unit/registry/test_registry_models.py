from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from airflow_mlops.automl import TaskType, fit_pipeline, get_family
from airflow_mlops.registry import (
    RegisteredModelVersion,
    get_model_version,
    get_version_by_alias,
    load_model,
    register_model,
    set_alias,
    skops_trusted_types,
)
from airflow_mlops.registry.mlflow_context import mlflow_stores

FAMILIES = ["linear", "random_forest", "hist_gradient_boosting"]
EXPERIMENT = "registry-test"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture
def tracking_uri(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh experiment with artifacts in tmp_path; the cwd is an empty dir that must stay empty."""
    client = MlflowClient(tracking_uri=store)
    experiment_id = client.create_experiment(EXPERIMENT, artifact_location=(tmp_path / "artifacts").as_uri())
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield store
    assert list(cwd.iterdir()) == []
    client.rename_experiment(experiment_id, f"{EXPERIMENT}-{experiment_id}")


def _frame(task: TaskType, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    if task == "regression":
        X, y = make_regression(n_samples=n, n_features=5, noise=5.0, random_state=0)
    else:
        X, y = make_classification(n_samples=n, n_features=5, n_informative=3, random_state=0)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    df["city"] = rng.choice(["paris", "lyon", "nice"], n)
    df.loc[::8, "x3"] = np.nan
    df.loc[::11, "city"] = None
    df["target"] = y if task == "regression" else np.where(y == 1, "churn", "stay")
    return df


def _register(
    family: str, task: TaskType, uri: str, name: str = "churn"
) -> tuple[Pipeline, RegisteredModelVersion]:
    df = _frame(task)
    pipeline = fit_pipeline(df, "target", family, get_family(family).default_params(task), task, seed=0)
    version = register_model(
        pipeline,
        name=name,
        train_df=df,
        target="target",
        tracking_uri=uri,
        experiment_name=EXPERIMENT,
        tags={"sweep_run_id": "abc123", "snapshot": "2024-06-01"},
        metrics={"AUC": 0.91},
        description=f"{family} for {task}",
    )
    return pipeline, version


@pytest.mark.parametrize("task", ["binary", "regression"])
@pytest.mark.parametrize("family", FAMILIES)
def test_register_and_load_round_trip(tracking_uri: str, family: str, task: TaskType) -> None:
    pipeline, version = _register(family, task, tracking_uri, name=f"{family}-{task}")
    assert version.model_uri == f"models:/{family}-{task}/1"
    assert version.version == "1"
    assert version.task == task and version.target == "target"
    assert version.feature_names == ["x0", "x1", "x2", "x3", "x4", "city"]

    loaded = load_model(version.model_uri, tracking_uri)
    probe = _frame(task).drop(columns="target").head(50).copy()
    probe.loc[probe.index[:5], "city"] = "marseille"  # unseen at training time
    if task == "regression":
        assert version.classes is None
        # A forest's regression averages trees in parallel: the sum order (so the last bit) may vary.
        np.testing.assert_allclose(loaded.predict(probe), pipeline.predict(probe), rtol=1e-12, atol=1e-9)
    else:
        assert version.classes == ["churn", "stay"]
        assert np.array_equal(loaded.predict_proba(probe), pipeline.predict_proba(probe))
        assert list(loaded.classes_) == version.classes

    with mlflow_stores(tracking_uri):
        info = mlflow.models.get_model_info(version.model_uri)
    flavor = info.flavors["sklearn"]
    assert flavor["serialization_format"] == "skops"
    assert flavor["skops_trusted_types"] == skops_trusted_types(pipeline)
    assert info.signature is not None
    assert info.signature.inputs.input_names() == version.feature_names


def test_tree_types_are_trusted_explicitly() -> None:
    df = _frame("binary")
    hgb = fit_pipeline(df, "target", "hist_gradient_boosting", {"max_iter": 5}, "binary", seed=0)
    assert "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor" in skops_trusted_types(hgb)
    forest = fit_pipeline(df, "target", "random_forest", {"n_estimators": 5}, "binary", seed=0)
    assert "sklearn.tree._tree.Tree" in skops_trusted_types(forest)


def _foreign(X: pd.DataFrame) -> pd.DataFrame:
    return X


def test_types_from_unknown_modules_are_refused(tracking_uri: str) -> None:
    df = _frame("regression")
    pipeline = Pipeline([("odd", FunctionTransformer(_foreign)), ("model", LinearRegression())]).fit(
        df[["x0", "x1"]], df["target"]
    )
    with pytest.raises(ValueError, match="_foreign"):
        register_model(
            pipeline,
            name="odd",
            train_df=df,
            target="target",
            tracking_uri=tracking_uri,
            experiment_name=EXPERIMENT,
        )


def test_version_tags_run_and_description(tracking_uri: str) -> None:
    _, version = _register("linear", "binary", tracking_uri, name="tagged")
    client = MlflowClient(tracking_uri=tracking_uri)
    stored = client.get_model_version("tagged", version.version)
    assert stored.description == "linear for binary"
    assert stored.run_id == version.run_id
    assert stored.tags["target"] == "target"
    assert stored.tags["task"] == "binary"
    assert json.loads(stored.tags["features"]) == version.feature_names
    assert json.loads(stored.tags["classes"]) == ["churn", "stay"]
    assert stored.tags["sweep_run_id"] == "abc123"
    assert stored.tags["snapshot"] == "2024-06-01"
    assert version.run_id is not None
    assert client.get_run(version.run_id).data.metrics["AUC"] == pytest.approx(0.91)
    assert get_model_version("tagged", 1, tracking_uri=tracking_uri) == version


def test_aliases_move_between_versions(tracking_uri: str) -> None:
    assert get_version_by_alias("aliased", "champion", tracking_uri=tracking_uri) is None
    _, first = _register("linear", "binary", tracking_uri, name="aliased")
    _, second = _register("random_forest", "binary", tracking_uri, name="aliased")
    assert (first.version, second.version) == ("1", "2")
    assert get_version_by_alias("aliased", "champion", tracking_uri=tracking_uri) is None

    set_alias("aliased", "champion", first.version, tracking_uri=tracking_uri)
    champion = get_version_by_alias("aliased", "champion", tracking_uri=tracking_uri)
    assert champion is not None
    assert (champion.version, champion.aliases) == ("1", ["champion"])
    assert champion.feature_names == first.feature_names and champion.classes == first.classes

    set_alias("aliased", "champion", 2, tracking_uri=tracking_uri)
    champion = get_version_by_alias("aliased", "champion", tracking_uri=tracking_uri)
    assert champion is not None and champion.version == "2"
    model = load_model("aliased@champion", tracking_uri)
    assert type(model.named_steps["model"]).__name__ == "RandomForestClassifier"
    assert type(load_model("aliased/1", tracking_uri).named_steps["model"]).__name__ == "LogisticRegression"


def test_bad_inputs_are_refused(tracking_uri: str) -> None:
    df = _frame("binary")
    pipeline = fit_pipeline(df, "target", "linear", {"C": 1.0, "class_weight": None}, "binary", seed=0)
    common = {"train_df": df, "target": "target", "tracking_uri": tracking_uri, "experiment_name": EXPERIMENT}
    with pytest.raises(ValueError, match=r"reserved keys \['task'\]"):
        register_model(pipeline, name="churn", tags={"task": "x"}, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'bad/name'"):
        register_model(pipeline, name="bad/name", **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lacks columns.*'city'"):
        register_model(pipeline, name="churn", **{**common, "train_df": df.drop(columns="city")})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tracking_uri is required"):
        load_model("churn/1", "")
    with pytest.raises(ValueError, match="'churn'"):
        load_model("churn", tracking_uri)
