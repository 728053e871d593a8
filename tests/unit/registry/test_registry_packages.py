"""Custom and external model packages, and one predictor for all three kinds, on a real MLflow store."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

from airflow_mlops.registry import (
    ExternalModelError,
    Predictor,
    get_or_create_experiment,
    load_model,
    load_predictor,
    model_kind,
    monitored_values,
    register_custom_model,
    register_external_model,
    set_alias,
)

FEATURES = ["tenure_months", "support_calls", "contract"]
#: Keeps pyfunc logging from inferring requirements in a subprocess (seconds per model).
PIP = ["mlflow", "pandas", "numpy"]
MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _risk(frame: pd.DataFrame) -> pd.Series:
    """The rule both custom models apply: many support calls and a short tenure mean churn."""
    return 0.1 + 0.3 * (frame["support_calls"] >= 3) + 0.5 * (frame["tenure_months"] < 12)


class ChurnScorer(PythonModel):
    """Returns class probabilities, one column per class (named by str(class), not in class order)."""

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        risk = _risk(model_input)
        return pd.DataFrame({"1": risk, "0": 1.0 - risk})


class ChurnRule(PythonModel):
    """Returns one label per row, no probabilities."""

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        return np.where(_risk(model_input) >= 0.5, "churn", "stay")


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tenure_months": [3.0, 30.0, 8.0, 48.0, 11.0, 60.0],
            "support_calls": [4.0, 0.0, 1.0, 5.0, 0.0, 3.0],
            "contract": ["monthly", "yearly", "monthly", "two_year", "monthly", "yearly"],
        }
    )


def _log(model: PythonModel, example: pd.DataFrame, experiment_id: str) -> str:
    """Log ``model`` in a run of ``experiment_id``; its ``models:/<model_id>`` URI."""
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=model, input_example=example, pip_requirements=PIP
        )
    return str(info.model_uri)


@dataclass(frozen=True)
class Logged:
    """A tracking store with the test's pyfunc models logged (not registered) in it."""

    uri: str
    scorer: str  # models:/<id> of ChurnScorer
    scorer_run: str  # runs:/<run>/model of the same model
    rule: str  # ChurnRule
    narrow: str  # ChurnRule whose signature lacks "contract"
    artifacts: Path


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    root = tmp_path_factory.mktemp("packages")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    artifacts = root / "artifacts"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # anything MLflow wrongly wrote to the cwd would land here, not in the repo
        _keep_mlflow_env(patch)
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(tracking_uri=uri)
        experiment_id = client.create_experiment("custom-models", artifact_location=artifacts.as_uri())
        scorer = _log(ChurnScorer(), _rows(), experiment_id)
        rule = _log(ChurnRule(), _rows(), experiment_id)
        narrow = _log(ChurnRule(), _rows()[["tenure_months", "support_calls"]], experiment_id)
        scorer_run_id = mlflow.models.get_model_info(scorer).run_id
        yield Logged(
            uri=uri,
            scorer=scorer,
            scorer_run=f"runs:/{scorer_run_id}/model",
            rule=rule,
            narrow=narrow,
            artifacts=artifacts,
        )


def _keep_mlflow_env(patch: pytest.MonkeyPatch) -> None:
    """Have ``patch`` restore the variables ``mlflow.set_tracking_uri`` exports, whatever sets them."""
    for name in MLFLOW_ENV:
        if name in os.environ:
            patch.setenv(name, os.environ[name])
        else:
            # delenv of an absent variable records nothing to undo: set it first, so that
            # undoing removes what mlflow.set_tracking_uri exports instead of leaking it
            # into every later test of the session.
            patch.setenv(name, "")
            patch.delenv(name)


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs in an empty directory that must still be empty at the end."""
    _keep_mlflow_env(monkeypatch)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert list(cwd.iterdir()) == []


def _registered_names(uri: str) -> set[str]:
    return {
        model.name for model in MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    }


# ---- custom models -------------------------------------------------------------------------


def test_custom_model_with_probabilities_registers_loads_and_predicts(logged: Logged) -> None:
    version = register_custom_model(
        logged.scorer,
        name="custom-scorer",
        target="churned",
        task="binary",
        features=FEATURES,
        classes=[0, 1],
        tracking_uri=logged.uri,
        description="rule-based churn scorer",
        tags={"owner": "data-science"},
    )

    assert (version.name, version.version, version.model_uri) == (
        "custom-scorer",
        "1",
        "models:/custom-scorer/1",
    )
    assert (version.task, version.target, version.feature_names, version.classes) == (
        "binary",
        "churned",
        FEATURES,
        [0, 1],
    )
    assert version.run_id == mlflow.models.get_model_info(logged.scorer).run_id
    assert version.tags["kind"] == "custom"
    assert version.tags["family"] == "custom"
    assert json.loads(version.tags["features"]) == FEATURES
    assert json.loads(version.tags["classes"]) == [0, 1]
    assert version.tags["owner"] == "data-science"
    assert model_kind(version.tags) == "custom"
    stored = MlflowClient(tracking_uri=logged.uri, registry_uri=logged.uri).get_model_version(
        "custom-scorer", "1"
    )
    assert stored.description == "rule-based churn scorer"
    assert stored.source == logged.scorer

    predictor = load_predictor("custom-scorer/1", tracking_uri=logged.uri)
    assert isinstance(predictor, Predictor)
    assert (predictor.kind, predictor.task, predictor.classes) == ("custom", "binary", [0, 1])

    rows = _rows()
    # Extra columns are ignored and column order does not matter.
    output = predictor.predict(rows.assign(customer_id="x")[["customer_id", *reversed(FEATURES)]])
    risk = _risk(rows).to_numpy()
    assert output.probabilities is not None
    # The pyfunc's columns were "1", "0": the probabilities are reordered to the classes [0, 1].
    np.testing.assert_allclose(output.probabilities, np.column_stack([1.0 - risk, risk]))
    assert output.labels.tolist() == [1, 0, 1, 0, 1, 0]
    assert output.classes == [0, 1]
    np.testing.assert_allclose(monitored_values("binary", output), risk)


def test_custom_model_returning_labels_and_versions_of_one_name(logged: Logged) -> None:
    first = register_custom_model(
        logged.scorer_run,  # a runs:/ URI works as well as models:/<model_id>
        name="custom-rule",
        target="churned",
        task="binary",
        features=FEATURES,
        classes=[0, 1],
        tracking_uri=logged.uri,
    )
    second = register_custom_model(
        logged.rule,
        name="custom-rule",
        target="churned",
        task="binary",
        features=FEATURES,
        classes=["stay", "churn"],  # the positive class is the last one
        tracking_uri=logged.uri,
    )
    assert (first.version, second.version) == ("1", "2")
    set_alias("custom-rule", "champion", second.version, tracking_uri=logged.uri)

    predictor = load_predictor("models:/custom-rule@champion", tracking_uri=logged.uri)
    assert predictor.model_id == "custom-rule/2"
    output = predictor.predict(_rows())
    assert output.probabilities is None
    assert output.labels.tolist() == ["churn", "stay", "churn", "stay", "churn", "stay"]
    assert monitored_values("binary", output).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "classification"}, "task='classification' is not one of"),
        ({"classes": None}, "classes are required for a binary model"),
        ({"classes": [0, 1, 2]}, "exactly two classes"),
        ({"task": "multiclass"}, "at least three classes"),
        ({"task": "regression"}, "classes must be None for a regression model"),
        ({"classes": [1, 1]}, "classes must be unique"),
        ({"features": []}, "at least one input column"),
        ({"features": ["tenure_months", "tenure_months"]}, "repeated: ['tenure_months']"),
        ({"features": [*FEATURES, "churned"]}, "target 'churned' is among the features"),
        ({"tags": {"kind": "automl"}}, "reserved keys ['kind']"),
        ({"name": "churn/2"}, "must be letters, digits"),
        # A required signature input left out of the features would fail every prediction.
        ({"features": ["tenure_months"]}, "requires inputs ['support_calls', 'contract']"),
    ],
)
def test_custom_model_arguments_are_validated_before_registering(
    logged: Logged, changes: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "name": "custom-invalid",
        "target": "churned",
        "task": "binary",
        "features": FEATURES,
        "classes": [0, 1],
        "tracking_uri": logged.uri,
        **changes,
    }
    with pytest.raises(ValueError) as caught:
        register_custom_model(logged.scorer, **arguments)
    assert message in str(caught.value)
    assert "custom-invalid" not in _registered_names(logged.uri)


def test_signature_missing_a_feature_is_refused_naming_it(logged: Logged) -> None:
    with pytest.raises(ValueError) as caught:
        register_custom_model(
            logged.narrow,
            name="custom-narrow",
            target="churned",
            task="binary",
            features=FEATURES,
            classes=["stay", "churn"],
            tracking_uri=logged.uri,
        )
    assert "lacks input columns for features ['contract']" in str(caught.value)
    assert "custom-narrow" not in _registered_names(logged.uri)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("runs:/0123456789abcdef0123456789abcdef/model", "does not resolve to an MLflow model"),
        ("models:/m-0123456789abcdef0123456789abcdef", "does not resolve to an MLflow model"),
        ("models:/no-such-model/1", "does not resolve to an MLflow model"),
        ("RUN_ARTIFACT/nope", "does not resolve to an MLflow model"),
        ("/tmp/some/saved/model", "log it first with mlflow.pyfunc.log_model"),
    ],
)
def test_unknown_model_uris_are_refused(logged: Logged, uri: str, message: str) -> None:
    uri = uri.replace("RUN_ARTIFACT", logged.scorer_run.rsplit("/", 1)[0])
    with pytest.raises(ValueError) as caught:
        register_custom_model(
            uri,
            name="custom-unknown",
            target="churned",
            task="binary",
            features=FEATURES,
            classes=[0, 1],
            tracking_uri=logged.uri,
        )
    assert message in str(caught.value)
    assert uri in str(caught.value)
    assert "custom-unknown" not in _registered_names(logged.uri)


# ---- external models -----------------------------------------------------------------------


def test_external_model_is_a_schema_without_artifact(logged: Logged, tmp_path: Path) -> None:
    feature_types = {"tenure_months": "numeric", "support_calls": "numeric", "contract": "categorical"}
    version = register_external_model(
        name="external-churn",
        target="churned",
        task="binary",
        features=feature_types,
        classes=["stay", "churn"],
        tracking_uri=logged.uri,
        description="scored by the CRM vendor",
        tags={"vendor": "acme"},
        artifact_location=(tmp_path / "external-artifacts").as_uri(),
    )

    assert (version.name, version.version, version.feature_names) == ("external-churn", "1", FEATURES)
    assert version.tags["kind"] == version.tags["family"] == "external"
    assert json.loads(version.tags["feature_types"]) == feature_types
    assert json.loads(version.tags["classes"]) == ["stay", "churn"]
    assert version.tags["vendor"] == "acme"
    assert model_kind(version.tags) == "external"

    mlflow.set_tracking_uri(logged.uri)
    mlflow.set_registry_uri(logged.uri)
    listed = mlflow.artifacts.list_artifacts(version.model_uri)
    assert [(item.path, item.is_dir) for item in listed] == [("external_model.json", False)]
    schema = mlflow.artifacts.load_dict(f"{version.model_uri}/external_model.json")
    assert schema["kind"] == "external"
    assert schema["features"] == [{"name": key, "type": value} for key, value in feature_types.items()]
    assert (schema["target"], schema["task"], schema["classes"]) == ("churned", "binary", ["stay", "churn"])
    # The registration run is finished, and its artifacts went where the experiment said.
    run = MlflowClient(tracking_uri=logged.uri).get_run(str(version.run_id))
    assert run.info.status == "FINISHED"
    assert list((tmp_path / "external-artifacts").rglob("external_model.json"))

    predictor = load_predictor("external-churn/1", tracking_uri=logged.uri)
    assert (predictor.kind, predictor.task, predictor.features, predictor.classes) == (
        "external",
        "binary",
        FEATURES,
        ["stay", "churn"],
    )
    with pytest.raises(ExternalModelError) as caught:
        predictor.predict(_rows())
    assert "predictions for external model 'external-churn/1' are made elsewhere; report them" in str(
        caught.value
    )
    assert caught.value.model_id == "external-churn/1"


def test_external_regression_model_and_its_validation(logged: Logged, tmp_path: Path) -> None:
    location = (tmp_path / "external-artifacts").as_uri()
    version = register_external_model(
        name="external-charges",
        target="monthly_charges",
        task="regression",
        features={"tenure_months": "numeric", "contract": "categorical"},
        classes=None,
        tracking_uri=logged.uri,
        artifact_location=location,
    )
    assert "classes" not in version.tags
    assert version.classes is None

    with pytest.raises(ValueError, match=r"feature types must be one of .*'contract': 'text'"):
        register_external_model(
            name="external-bad",
            target="churned",
            task="binary",
            features={"tenure_months": "numeric", "contract": "text"},
            classes=[0, 1],
            tracking_uri=logged.uri,
            artifact_location=location,
        )
    with pytest.raises(ValueError, match="at least one input column"):
        register_external_model(
            name="external-bad",
            target="churned",
            task="binary",
            features={},
            classes=[0, 1],
            tracking_uri=logged.uri,
            artifact_location=location,
        )
    assert "external-bad" not in _registered_names(logged.uri)


# ---- automl models through the same interface ----------------------------------------------


def test_automl_model_loads_as_a_predictor(registered_models: Any) -> None:
    uri = registered_models.tracking_uri
    train = registered_models.train.head(50)
    predictor = load_predictor(registered_models.churn_v1, tracking_uri=uri)
    pipeline = load_model(registered_models.churn_v1, tracking_uri=uri)

    assert (predictor.kind, predictor.task, predictor.target) == ("automl", "binary", "churned")
    assert predictor.features == registered_models.features
    assert predictor.classes == [0, 1]
    output = predictor.predict(train)
    expected = pipeline.predict_proba(train[registered_models.features])
    assert output.probabilities is not None
    np.testing.assert_allclose(output.probabilities, expected)
    assert output.labels.tolist() == pipeline.predict(train[registered_models.features]).tolist()
    np.testing.assert_allclose(monitored_values("binary", output), expected[:, 1])

    regression = load_predictor(f"models:/{registered_models.charges}", tracking_uri=uri)
    values = regression.predict(train)
    assert values.probabilities is None and regression.classes is None
    np.testing.assert_allclose(
        values.labels,
        load_model(registered_models.charges, tracking_uri=uri).predict(train[regression.features]),
    )

    with pytest.raises(ValueError, match=r"needs columns \['contract'\] that the input lacks"):
        predictor.predict(train.drop(columns=["contract"]))


def test_load_predictor_refuses_what_it_cannot_serve(registered_models: Any) -> None:
    uri = registered_models.tracking_uri
    with pytest.raises(ValueError, match="lacks the registry tags"):
        load_predictor(registered_models.untagged, tracking_uri=uri)
    with pytest.raises(LookupError, match="churn/99 is not in the MLflow registry"):
        load_predictor("churn/99", tracking_uri=uri)
    with pytest.raises(LookupError, match="alias 'nobody'"):
        load_predictor("churn@nobody", tracking_uri=uri)
    with pytest.raises(ValueError, match="is not a registered model version"):
        load_predictor("runs:/0123456789abcdef/model", tracking_uri=uri)


# ---- deployments read the tags of every kind -----------------------------------------------


def test_model_version_info_reads_custom_and_external_versions(
    mlops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlops.config import get_settings
    from airflow_mlops.deployments import model_version_info

    for name in MLFLOW_ENV:  # other tests' mlflow.set_tracking_uri calls export these
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    uri = settings.mlflow_tracking_uri
    assert uri.startswith(f"sqlite:///{mlops_home}")
    mlflow.set_tracking_uri(uri)
    experiment_id = get_or_create_experiment(MlflowClient(tracking_uri=uri), "custom-models")
    model_uri = _log(ChurnScorer(), _rows(), experiment_id)
    custom = register_custom_model(
        model_uri,
        name="churn-custom",
        target="churned",
        task="binary",
        features=FEATURES,
        classes=[0, 1],
        tracking_uri=uri,
    )
    external = register_external_model(
        name="churn-external",
        target="monthly_charges",
        task="regression",
        features={"tenure_months": "numeric", "contract": "categorical"},
        classes=None,
        tracking_uri=uri,
    )

    info = model_version_info(f"{custom.name}/{custom.version}")
    assert (info.ref.id, info.target, info.task, info.features, info.family, info.target_type) == (
        "churn-custom/1",
        "churned",
        "binary",
        FEATURES,
        "custom",
        "Binary",
    )
    assert info.run_id == custom.run_id
    info = model_version_info("churn-external/1")
    assert (info.target, info.task, info.features, info.family, info.target_type) == (
        "monthly_charges",
        "regression",
        ["tenure_months", "contract"],
        "external",
        "Regression",
    )
    assert info.run_id == external.run_id
    # Both the model and the schema landed under MLOPS_HOME, not in the cwd.
    assert list((mlops_home / "mlartifacts").rglob("external_model.json"))
    assert list((mlops_home / "mlartifacts").rglob("MLmodel"))


def test_registry_calls_leave_the_mlflow_environment_alone(
    logged: Logged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``config.get_settings`` reads these variables: a call with explicit URIs must not redirect it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    register_external_model(
        name="external-env",
        target="churned",
        task="binary",
        features={"tenure_months": "numeric"},
        classes=[0, 1],
        tracking_uri=logged.uri,
        artifact_location=(tmp_path / "external-artifacts").as_uri(),
    )
    load_predictor("external-env/1", tracking_uri=logged.uri)
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///elsewhere.db"
    assert "MLFLOW_REGISTRY_URI" not in os.environ
