"""A deployment's model card: made on first read, made again on replacement with the new history entry.

Real registered versions (the session's registry, tests/unit/conftest.py) and a real store.
These versions were registered directly (no snapshot, no sweep): the card says so rather than
inventing anything.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from mlflow import MlflowClient

from airflow_mlops.config import get_settings
from airflow_mlops.deployments import Deployment, model_version_info, protected_features_of
from airflow_mlops.registry import log_model_card, read_model_card
from airflow_mlops.training import build_model_card

if TYPE_CHECKING:
    from conftest import RegisteredModels


def _logged(model_id: str, deployment_id: str, fmt: str = "json") -> str | None:
    settings = get_settings()
    run_id = model_version_info(model_id).run_id
    assert run_id is not None
    return read_model_card(
        run_id, fmt, deployment_id=deployment_id, tracking_uri=settings.mlflow_tracking_uri
    )


def test_a_deployments_card_is_made_on_first_read_with_its_owner_and_history(
    models: RegisteredModels,
) -> None:
    deployment = Deployment.create_from_registered_model_version(
        models.churn_v1, "cards", description="churn risk for the retention team", owners=["olga"]
    )
    assert _logged(models.churn_v1, deployment.id) is None

    card = json.loads(deployment.get_model_card("json"))
    assert card["model_id"] == models.churn_v1
    assert card["owner"] == "olga"
    assert card["intended_use"] == "churn risk for the retention team"
    history = card["deployment"]["history"]
    assert [(h["reason"], h["new_model_version"]) for h in history] == [("INITIAL", "1")]
    assert card["features"] == models.features
    # Registered without a snapshot or a sweep: said so, nothing invented.
    assert card["training_data"] is None and card["sweep"] is None and card["holdout_metrics"] is None
    run = MlflowClient().get_run(str(model_version_info(models.churn_v1).run_id))
    assert card["run_metrics"] == run.data.metrics
    assert _logged(models.churn_v1, deployment.id) is not None

    markdown = deployment.get_model_card("markdown")
    assert "## Replacement history" in markdown and "| INITIAL |" in markdown
    assert "*No dataset snapshot is recorded for this version.*" in markdown
    html = deployment.get_model_card("html")
    assert "<h2>Replacement history</h2>" in html


def test_replacing_the_model_makes_the_card_again_with_the_new_history_entry(
    models: RegisteredModels,
) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "cards")
    deployment.get_model_card("json")  # the first model's card
    deployment.replace_model(models.churn_v2, "ACCURACY", actor="ravi")

    logged = _logged(models.churn_v2, deployment.id)
    assert logged is not None, "replace_model did not log the new model's card"
    card = json.loads(logged)
    assert card["model_id"] == models.churn_v2 and card["family"] == "random_forest"
    history = card["deployment"]["history"]
    assert [(h["reason"], h["old_model_version"], h["new_model_version"]) for h in history] == [
        ("INITIAL", None, "1"),
        ("ACCURACY", "1", "2"),
    ]
    assert history[-1]["actor"] == "ravi"
    markdown = _logged(models.churn_v2, deployment.id, "markdown")
    assert markdown is not None and "| ACCURACY | ravi |" in markdown
    # Served without being made again: the logged one is current.
    assert json.loads(deployment.get_model_card("json"))["generated_at"] == card["generated_at"]


def test_a_stale_card_is_made_again_when_read(models: RegisteredModels) -> None:
    settings = get_settings()
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "cards")
    deployment.replace_model(models.churn_v2, "OTHER")
    # As if the refresh on replacement had failed: the logged card lacks the replacement.
    history = deployment.get_model_history()
    stale = build_model_card(models.churn_v2, deployment={"id": deployment.id, "history": history[:1]})
    log_model_card(
        stale, tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
    )
    assert len(json.loads(str(_logged(models.churn_v2, deployment.id)))["deployment"]["history"]) == 1

    again = json.loads(deployment.get_model_card("json"))
    assert [h["reason"] for h in again["deployment"]["history"]] == ["INITIAL", "OTHER"]
    assert len(json.loads(str(_logged(models.churn_v2, deployment.id)))["deployment"]["history"]) == 2


def test_protected_features_come_from_the_fairness_settings_when_present(models: RegisteredModels) -> None:
    assert protected_features_of({}) == []
    section = {"bias_and_fairness": {"protected_features": ["gender", "age"]}}
    assert protected_features_of(section) == ["gender", "age"]
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "cards")
    assert deployment.refresh_model_card().protected_features == []
    deployment.update_bias_and_fairness_settings(["contract"], "proportionalParity", 0.8, 1)
    card = Deployment.get(deployment.id).refresh_model_card()  # read from the stored settings
    assert card.protected_features == ["contract"]
    # No snapshot to score groups on: named as a limit, no group metrics invented.
    assert card.group_metrics == []
    assert any("protected group" in limit for limit in card.limits), card.limits


def test_an_unknown_format_is_named(models: RegisteredModels) -> None:
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "cards")
    with pytest.raises(ValueError, match=r"format='pdf'.*\['markdown', 'html', 'json'\]"):
        deployment.get_model_card("pdf")
