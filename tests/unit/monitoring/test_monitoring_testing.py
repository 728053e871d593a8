"""insert_deployment_with_baseline: the deployment and baselines it writes are what the package reads back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.exc import IntegrityError

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment
from airflow_mlops.monitoring import Baseline, build_baseline
from airflow_mlops.monitoring.testing import insert_deployment_with_baseline


def _baseline(prediction_name: str | None = "churned") -> Baseline:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"tenure": rng.normal(40.0, 10.0, 500), "plan": rng.choice(["a", "b"], 500)})
    if prediction_name is None:
        return build_baseline(frame)
    return build_baseline(
        frame, prediction=pd.Series(rng.beta(2.0, 5.0, 500)), prediction_name=prediction_name
    )


def test_defaults_serve_version_1_with_its_baseline_and_the_prediction_as_target(mlops_home: Path) -> None:
    baseline = _baseline()
    insert_deployment_with_baseline(get_settings().store_url, "dep1", baseline)
    deployment = Deployment.get("dep1")
    assert deployment.label == "dep1"
    assert deployment.model["version"] == "1"
    assert deployment.model["target_name"] == "churned"
    assert deployment.model["target_type"] == "Binary"
    assert deployment.get_baseline("1") == baseline.to_dict()
    assert deployment.get_baseline("2") is None


def test_every_given_version_gets_the_baseline(mlops_home: Path) -> None:
    baseline = _baseline(prediction_name=None)
    insert_deployment_with_baseline(
        get_settings().store_url,
        "dep2",
        baseline,
        model_version="2",
        baseline_versions=("1", "2"),
        label="churn",
        registered_model_name="churn",
        target_type="Regression",
        settings={"drift_tracking": {"target_drift": {"enabled": False}}},
    )
    deployment = Deployment.get("dep2")
    assert (deployment.label, deployment.model["id"]) == ("churn", "churn/2")
    assert deployment.model["target_name"] == "target", "no prediction column: a placeholder name"
    assert deployment.model["target_type"] == "Regression"
    assert deployment.settings["drift_tracking"]["target_drift"] == {"enabled": False}
    assert deployment.get_baseline("1") == deployment.get_baseline("2") == baseline.to_dict()


def test_an_id_already_in_the_store_is_refused(mlops_home: Path) -> None:
    url = get_settings().store_url
    insert_deployment_with_baseline(url, "dep1", _baseline())
    with pytest.raises(IntegrityError):
        insert_deployment_with_baseline(url, "dep1", _baseline())
