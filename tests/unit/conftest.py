"""Shared fixtures for unit tests that need real registered models.

Registering a model costs about a second, so the models are registered once per
session in an MLflow SQLite DB of their own; each test still gets a fresh MLOps
store (``mlops_home``) and points MLflow at that shared registry through
``MLFLOW_TRACKING_URI``. Tests only add aliases named after their own
deployments' ids to the shared registry, so they cannot see each other's.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

CHURN_DROP = ["customer_id", "event_time"]
#: Left out of the "churn_small" model so its feature set differs from churn's.
SMALL_DROP = ["support_calls", "internet_service"]


@dataclass(frozen=True)
class RegisteredModels:
    """Model ids in the session's registry and the frames they were trained on."""

    tracking_uri: str
    churn_v1: str  # linear, binary on "churned"
    churn_v2: str  # random forest, same target and features
    charges: str  # regression on "monthly_charges"
    churn_small: str  # binary on "churned" without SMALL_DROP
    untagged: str  # a registry version without the target/task/features tags
    train: pd.DataFrame  # the churn models' training rows (features and target)
    features: list[str]  # the churn models' features, in training order


def churn_frame(n_rows: int, seed: int) -> pd.DataFrame:
    """Synthetic churn rows with the columns models train on (no id, no timestamp)."""
    from airflow_mlops.datasets import make_churn

    return make_churn(n_rows, seed=seed).drop(columns=CHURN_DROP)


def _register(df: pd.DataFrame, name: str, target: str, family: str, task: str, tracking_uri: str) -> str:
    from airflow_mlops.automl import fit_pipeline, get_family
    from airflow_mlops.registry import register_model

    params = get_family(family).default_params(task)  # type: ignore[arg-type]
    pipeline = fit_pipeline(df, target, family, params, task, seed=0)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        # MLflow's hint that integer columns cannot hold missing values: the models impute them.
        warnings.filterwarnings(
            "ignore", message="Hint: Inferred schema contains integer", category=UserWarning
        )
        version = register_model(
            pipeline,
            name=name,
            train_df=df,
            target=target,
            tracking_uri=tracking_uri,
            registry_uri=tracking_uri,
            experiment_name="tests",
            tags={"family": family},
            artifact_location=(Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri(),
        )
    return f"{version.name}/{version.version}"


@pytest.fixture(scope="session")
def registered_models(tmp_path_factory: pytest.TempPathFactory) -> RegisteredModels:
    """Four registered versions (plus one without tags), registered once per session."""
    from airflow_mlops.registry.mlflow_context import mlflow_stores

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    df = churn_frame(600, seed=7)
    churn_v1 = _register(df, "churn", "churned", "linear", "binary", uri)
    churn_v2 = _register(df, "churn", "churned", "random_forest", "binary", uri)
    charges = _register(
        df.drop(columns=["churned"]), "charges", "monthly_charges", "linear", "regression", uri
    )
    churn_small = _register(df.drop(columns=SMALL_DROP), "churn_small", "churned", "linear", "binary", uri)

    with mlflow_stores(uri, uri) as client:  # a models:/ source resolves through MLflow's global store
        source = client.get_model_version("churn", "1")
        client.create_registered_model("untagged")
        untagged = client.create_model_version("untagged", source.source, run_id=source.run_id)

    return RegisteredModels(
        tracking_uri=uri,
        churn_v1=churn_v1,
        churn_v2=churn_v2,
        charges=charges,
        churn_small=churn_small,
        untagged=f"untagged/{untagged.version}",
        train=df,
        features=[c for c in df.columns if c != "churned"],
    )


@pytest.fixture
def models(
    mlops_home: Path, registered_models: RegisteredModels, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RegisteredModels]:
    """A fresh MLOps store with MLflow pointed at the session's registered models."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_models.tracking_uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registered_models.tracking_uri)
    yield registered_models
