"""A sweep's model registered by ``refit_and_register`` gets a model card whose content is the registry's.

Real parts throughout: an ingested snapshot (profile, contract), an Optuna sweep with its
MLflow runs and leaderboard artifact, the refit and registration, the holdout scored by the
registered model. Every value on the card is checked against where it is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from airflow_mlops.automl import SweepConfig, run_sweep
from airflow_mlops.automl.leaderboard import load_leaderboard
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.datasets import Snapshot, ingest, log_snapshot_input
from airflow_mlops.monitoring.model_baseline import evaluate_model
from airflow_mlops.registry import ModelRef, get_model_version, read_model_card, render_html, render_markdown
from airflow_mlops.training import RefitModel, build_model_card, learning_model_spec, refit_and_register
from airflow_mlops.training.model_card import FEW_CLASS_ROWS, HIGH_MISSING_RATE


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Binary rows: ``plan`` is the protected feature, ``x2`` is missing in a third of the rows,
    and the ``yes`` class is rare (fewer rows than the card's threshold)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, 1, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    label = np.where(np.argsort(np.argsort(-(2 * x1 - x2))) < 24, "yes", "no")  # 24 rows of "yes"
    frame = pd.DataFrame({"x1": x1, "x2": x2, "plan": plan, "y": label})
    frame.loc[rng.uniform(size=n) < 0.35, "x2"] = np.nan
    return frame


@dataclass
class Registered:
    settings: Settings
    snapshot: Snapshot
    refit: RefitModel
    trial_run_id: str
    parent_run_id: str


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registered]:
    """One sweep and registration for the module (a few seconds), in an MLOPS_HOME of its own."""
    from airflow_mlops.store import dispose_engines, migrate

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_HOME", str(tmp_path_factory.mktemp("cards") / "mlops"))
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLOPS_STORE_URL", "MLOPS_SNAPSHOTS_DIR"):
            mp.delenv(name, raising=False)
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.store_url)
        source = Path(settings.home) / "cards.csv"
        _frame(400, seed=3).to_csv(source, index=False)
        snapshot = ingest(str(source), dataset="cards", target="y", snapshots_dir=settings.snapshots_dir)
        result = run_sweep(
            snapshot.train_frame(),
            SweepConfig(target="y", families=["linear"], n_trials=2, cv_folds=2, experiment_name="cards"),
        )
        log_snapshot_input(snapshot, run_id=result.parent_run_id, tracking_uri=settings.mlflow_tracking_uri)
        best = result.leaderboard_records()[0]
        spec, snap, lineage = learning_model_spec(str(best["run_id"]), settings=settings)
        lineage.pop("experiment")
        # What RegisterModelOperator logs on the version's run.
        metrics = {f"cv_{best['metric']}": float(best["score"])}
        refit = refit_and_register(
            snap, spec, registered_model_name="cards", experiment_name="cards", tags=lineage, metrics=metrics
        )
        yield Registered(settings, snapshot, refit, str(best["run_id"]), result.parent_run_id)
        dispose_engines()


def test_the_card_is_logged_at_registration_and_its_content_comes_from_the_registry(
    registered: Registered,
) -> None:
    settings, snapshot, refit = registered.settings, registered.snapshot, registered.refit
    uri = settings.mlflow_tracking_uri
    # Logged by refit_and_register, in the three formats, on the version's run.
    logged = {
        fmt: read_model_card(refit.run_id, fmt, tracking_uri=uri) for fmt in ("markdown", "html", "json")
    }
    assert all(logged.values()), {fmt: text is not None for fmt, text in logged.items()}
    assert f"# Model card: {refit.model_id}" in str(logged["markdown"])

    card = build_model_card(refit.model_id, protected_features=["plan"])
    run = MlflowClient(tracking_uri=uri).get_run(refit.run_id)
    version = get_model_version("cards", ModelRef.parse(refit.model_id).version, tracking_uri=uri)
    holdout = snapshot.holdout_frame()

    # Metrics: the run's, and the model's own on the snapshot's holdout (overall and per group).
    assert card.run_metrics == run.data.metrics and card.run_metrics
    assert card.holdout_metrics == evaluate_model(refit.model_id, holdout)
    assert card.holdout_rows == len(holdout)
    groups = {g.group: g for g in card.group_metrics}
    assert set(groups) == set(holdout["plan"])
    for value, group in groups.items():
        rows = holdout[holdout["plan"] == value]
        assert group.rows == len(rows)
        assert group.metrics == evaluate_model(refit.model_id, rows)

    # Importance: the registry's tag; the chosen model: the version's family and the trial's row.
    assert card.feature_importance == version.feature_importance and card.feature_importance
    assert card.family == "linear" and card.task == "binary" and card.target == "y"
    board = load_leaderboard(registered.parent_run_id, uri)
    assert card.sweep is not None
    assert card.sweep["parent_run_id"] == registered.parent_run_id
    assert card.sweep["candidates"] == len(board)
    assert [r["run_id"] for r in card.sweep["leaderboard"]] == list(
        board["run_id"][: len(card.sweep["leaderboard"])]
    )
    chosen = card.sweep["chosen"]
    assert chosen["run_id"] == registered.trial_run_id
    assert chosen["params"] == board.set_index("run_id").loc[registered.trial_run_id, "params"]

    # Training data: the snapshot's meta, profile and contract.
    meta, profile = snapshot.meta(), snapshot.profile()
    data = card.training_data
    assert data is not None
    assert (data["dataset"], data["version"]) == ("cards", snapshot.version)
    assert (data["n_train"], data["n_holdout"]) == (meta["n_train"], meta["n_holdout"])
    assert data["contract"]["digest"] == meta["contract"]["digest"]
    columns = {c["name"]: c for c in data["columns"]}
    assert columns["x2"]["missing_rate"] == profile["columns"]["x2"]["missing_rate"]
    assert data["class_distribution"] == profile["target"]["distribution"]

    # Known limits: the feature with many missing values and the rare class, with their numbers.
    x2_rate = profile["columns"]["x2"]["missing_rate"]
    yes_rows = profile["target"]["distribution"]["yes"]
    assert x2_rate >= HIGH_MISSING_RATE and yes_rows < FEW_CLASS_ROWS
    assert any("'x2'" in limit and f"{x2_rate:.0%}" in limit for limit in card.limits), card.limits
    assert any("'yes'" in limit and f"{yes_rows} rows" in limit for limit in card.limits), card.limits
    assert not any("'x1'" in limit for limit in card.limits)


def test_the_markdown_and_html_show_every_section_with_the_registry_values(registered: Registered) -> None:
    card = build_model_card(registered.refit.model_id, protected_features=["plan"])
    markdown = render_markdown(card)
    for heading in (
        "## Overview",
        "## Training data",
        "## How the model was chosen",
        "## Performance",
        "### Holdout metrics per protected group (plan)",
        "## Feature importance",
        "## Known limits",
    ):
        assert heading in markdown, heading
    assert "## Replacement history" not in markdown  # a version's card; deployments add it
    assert registered.snapshot.version in markdown
    assert registered.parent_run_id in markdown
    top_feature, top_value = next(iter((card.feature_importance or {}).items()))
    assert f"| {top_feature} | {top_value:.4g} |" in markdown
    assert card.holdout_metrics is not None
    name, value = next((k, v) for k, v in card.holdout_metrics.items() if v is not None)
    assert f"| {name} | {value:.4g} |" in markdown

    html = render_html(markdown, title="card")
    assert html.startswith("<!doctype html>")
    assert "<h2>Known limits</h2>" in html and "<table>" in html
    assert f"<td>{top_feature}</td>" in html


def test_values_from_data_cannot_add_markup(registered: Registered) -> None:
    card = build_model_card(registered.refit.model_id)
    card.intended_use = "<script>alert(1)</script> | *bold* [link](http://x)"
    html = render_html(render_markdown(card), title="card")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<em>bold</em>" not in html and "<a href" not in html


def test_an_unknown_version_or_protected_feature_is_named(registered: Registered) -> None:
    with pytest.raises(LookupError, match=r"'cards/99'"):
        build_model_card("cards/99")
    with pytest.raises(ValueError, match=rf"\['region'\].*{registered.refit.model_id}.*'plan'"):
        build_model_card(registered.refit.model_id, protected_features=["region"])
