"""A registered version's model card, gathered from the registry, its snapshot and its sweep.

Every fact comes from where it is kept, never re-typed: the version's tags
(task, target, features, family, lineage, permutation importance, owner,
intended use), its run's metrics, the dataset snapshot it was trained on
(``meta.json``, ``profile.json``, the contract), the sweep's leaderboard
artifact on the sweep's MLflow parent run, and the model's own predictions on
the snapshot's holdout, scored as accuracy monitoring scores them
(:func:`~airflow_mlops.monitoring.model_baseline.evaluate_model_by_group`), overall
and per protected group. Whatever is not recorded (a version registered
without a sweep, a snapshot since deleted) is said so on the card, not guessed.

:func:`refit_and_register` publishes the card of every version it registers;
:func:`model_card` builds and logs it for any other version on demand.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from airflow_mlops.automl.leaderboard import load_leaderboard
from airflow_mlops.config import Settings, get_settings
from airflow_mlops.datasets import Snapshot, SnapshotNotFoundError, load_snapshot
from airflow_mlops.monitoring.model_baseline import evaluate_model_by_group
from airflow_mlops.registry import ModelRef
from airflow_mlops.registry.model_card import (
    LEADERBOARD_ROWS,
    GroupMetrics,
    LoggedCard,
    ModelCard,
    log_model_card,
)
from airflow_mlops.registry.model_version import model_version_info

log = logging.getLogger(__name__)

#: A feature missing in at least this share of the rows is named a known limit.
HIGH_MISSING_RATE = 0.2
#: A class with fewer rows than this is named a known limit (its metrics rest on few examples).
FEW_CLASS_ROWS = 30
#: A protected group with fewer holdout rows than this is named a known limit.
FEW_GROUP_ROWS = 30
#: Most groups scored per protected feature (the largest ones); the others are named as left out.
MAX_GROUPS = 20
#: Version tags a team sets to fill the card's header.
OWNER_TAG = "owner"
INTENDED_USE_TAG = "intended_use"


def _snapshot(tags: Mapping[str, str], settings: Settings) -> tuple[Snapshot | None, str | None]:
    """The version's training snapshot from its lineage tags, or why there is none."""
    dataset, version = tags.get("dataset"), tags.get("dataset_version")
    if not dataset or not version:
        return None, None
    try:
        return load_snapshot(settings.snapshots_dir, dataset, version), None
    except (SnapshotNotFoundError, FileNotFoundError, ValueError) as exc:
        return None, f"the training snapshot {dataset}/{version} cannot be read: {exc}"


def _training_data(snapshot: Snapshot, features: Sequence[str]) -> dict[str, Any]:
    meta, profile = snapshot.meta(), snapshot.profile()
    columns = profile.get("columns", {})
    return {
        "dataset": snapshot.dataset,
        "version": snapshot.version,
        "n_rows": meta.get("n_rows"),
        "n_train": meta.get("n_train"),
        "n_holdout": meta.get("n_holdout"),
        "n_quarantined": meta.get("n_quarantined", 0),
        "source": meta.get("source"),
        "created_at": meta.get("created_at"),
        "split_method": meta.get("split_method"),
        "contract": meta.get("contract"),
        "issues": meta.get("issues") or [],
        "columns": [
            {
                "name": name,
                "type": entry.get("type"),
                "missing_rate": entry.get("missing_rate"),
                "distinct": entry.get("distinct"),
                "mean": entry.get("mean"),
                "min": entry.get("min"),
                "max": entry.get("max"),
            }
            for name, entry in columns.items()
            if name in features or name == snapshot.target
        ],
        "class_distribution": (profile.get("target") or {}).get("distribution"),
    }


def _sweep(
    tags: Mapping[str, str], family: str, settings: Settings
) -> tuple[dict[str, Any] | None, str | None]:
    """The sweep the version came from: metric, top leaderboard rows and the chosen candidate."""
    parent = tags.get("sweep_parent_run_id")
    if not parent:
        return None, None
    try:
        board = load_leaderboard(parent, settings.mlflow_tracking_uri)
    except (MlflowException, OSError, KeyError, ValueError) as exc:
        return None, f"the sweep's leaderboard (run {parent}) cannot be read: {exc}"
    rows = [
        {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()}
        for r in board.to_dict(orient="records")
    ]
    chosen_run = tags.get("learning_model_run_id")
    chosen = next((r for r in rows if chosen_run and r.get("run_id") == chosen_run), None)
    if chosen is None:  # the training DAG registers the sweep's best of the version's family
        chosen = next((r for r in rows if r.get("family") == family), None)
    top = rows[:LEADERBOARD_ROWS]
    if chosen is not None and chosen not in top:
        top.append(chosen)
    keep = ("rank", "family", "score", "holdout_score", "fit_time_s", "run_id", "params")
    return {
        "parent_run_id": parent,
        "metric": tags.get("metric") or (rows[0]["metric"] if rows else None),
        "candidates": len(rows),
        "chosen": {k: chosen.get(k) for k in keep} if chosen is not None else None,
        "leaderboard": [{k: r.get(k) for k in keep} for r in top],
    }, None


def _groups(holdout: pd.DataFrame, feature: str) -> tuple[dict[str, pd.Series], int]:
    """Row masks of the feature's values (missing is a group of its own), largest first; how many left out."""
    values = holdout[feature].astype("string").fillna("(missing)")
    counts = values.value_counts()
    kept = counts.index[:MAX_GROUPS]
    return {str(value): values == value for value in kept}, max(0, len(counts) - MAX_GROUPS)


def _performance(card: ModelCard, holdout: pd.DataFrame, protected: Sequence[str], limits: list[str]) -> None:
    """Holdout metrics overall and per group of each protected feature, on ``card``."""
    unknown = [f for f in protected if f not in holdout.columns]
    if unknown:
        raise ValueError(
            f"protected feature(s) {unknown} are not columns of the training snapshot of {card.model_id}; "
            f"its columns: {sorted(holdout.columns)}"
        )
    masks: dict[str, pd.Series] = {"all": pd.Series(True, index=holdout.index)}
    sizes: dict[tuple[str, str], int] = {}
    for feature in protected:
        groups, left_out = _groups(holdout, feature)
        if left_out:
            limits.append(
                f"protected feature {feature!r} has {left_out} more values than the {MAX_GROUPS} largest scored"
            )
        for value, mask in groups.items():
            masks[f"{feature}={value}"] = mask
            sizes[(feature, value)] = int(mask.sum())
    scored = evaluate_model_by_group(card.model_id, holdout, masks)
    card.holdout_rows = int(holdout[card.target].notna().sum())
    card.holdout_metrics = scored["all"]
    for (feature, value), rows in sizes.items():
        card.group_metrics.append(GroupMetrics(feature, value, rows, scored[f"{feature}={value}"]))
        if rows < FEW_GROUP_ROWS:
            limits.append(
                f"protected group {feature}={value} has {rows} holdout rows (< {FEW_GROUP_ROWS}): "
                "its metrics are uncertain"
            )


def _data_limits(data: Mapping[str, Any], features: Sequence[str], limits: list[str]) -> None:
    for column in data.get("columns", []):
        rate = column.get("missing_rate") or 0.0
        if column["name"] in features and rate >= HIGH_MISSING_RATE:
            limits.append(
                f"feature {column['name']!r} is missing in {rate:.0%} of the training data's rows "
                f"(>= {HIGH_MISSING_RATE:.0%}): predictions lean on imputed values"
            )
    for label, rows in (data.get("class_distribution") or {}).items():
        if rows < FEW_CLASS_ROWS:
            limits.append(
                f"class {label!r} has {rows} rows in the training data (< {FEW_CLASS_ROWS}): "
                "the model has seen few examples of it"
            )


def build_model_card(
    model_id: str,
    *,
    protected_features: Sequence[str] = (),
    deployment: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> ModelCard:
    """The card of ``'<name>/<version>'`` from the registry and the stores (not logged).

    ``protected_features``: columns whose groups get their own holdout metrics
    (from a deployment's fairness settings when it has them). ``deployment``:
    ``{"id", "label", "description", "owners", "history"}`` for a deployment's card.
    Raises ``LookupError`` naming the version when the registry does not know it.
    """
    settings = settings or get_settings()
    ref = ModelRef.parse(model_id)
    info = model_version_info(ref.id, tracking_uri=settings.mlflow_tracking_uri)  # errors name the version
    client = MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
    )
    version = client.get_model_version(ref.name, ref.version)
    tags = dict(version.tags or {})
    run = client.get_run(version.run_id) if version.run_id else None
    limits: list[str] = []
    deployment = dict(deployment) if deployment is not None else None
    owners = ", ".join((deployment or {}).get("owners") or [])
    card = ModelCard(
        model_id=ref.id,
        name=ref.name,
        version=ref.version,
        run_id=version.run_id or None,
        task=info.task,
        target=info.target,
        family=info.family,
        features=list(info.features),
        classes=_classes(tags),
        registered_at=datetime.fromtimestamp(version.creation_timestamp / 1000, UTC).isoformat()
        if version.creation_timestamp
        else None,
        owner=tags.get(OWNER_TAG) or owners or (run.data.tags.get("mlflow.user") if run else None),
        intended_use=tags.get(INTENDED_USE_TAG)
        or version.description
        or (deployment or {}).get("description")
        or None,
        run_metrics=dict(run.data.metrics) if run else {},
        protected_features=list(protected_features),
        feature_importance=_importance(tags),
        generated_at=datetime.now(UTC).isoformat(),
    )
    snapshot, problem = _snapshot(tags, settings)
    if problem:
        limits.append(problem)
    if snapshot is not None:
        card.training_data = _training_data(snapshot, card.features)
        _data_limits(card.training_data, card.features, limits)
        holdout = snapshot.holdout_frame()
        if len(holdout) and info.kind != "external":
            _performance(card, holdout, card.protected_features, limits)
    elif card.protected_features:
        limits.append("no training snapshot is recorded, so no metrics per protected group could be computed")
    card.sweep, problem = _sweep(tags, info.family, settings)
    if problem:
        limits.append(problem)
    if deployment is not None:
        card.deployment = {k: deployment.get(k) for k in ("id", "label", "history")}
    card.limits = limits
    return card


def _classes(tags: Mapping[str, str]) -> list[Any] | None:
    return json.loads(tags["classes"]) if "classes" in tags else None


def _importance(tags: Mapping[str, str]) -> dict[str, float] | None:
    return json.loads(tags["feature_importance"]) if "feature_importance" in tags else None


def model_card(
    model_id: str,
    *,
    protected_features: Sequence[str] = (),
    deployment: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> tuple[ModelCard, LoggedCard]:
    """Build the card of ``model_id`` and log it (Markdown, HTML, JSON) to the version's run."""
    settings = settings or get_settings()
    card = build_model_card(
        model_id, protected_features=protected_features, deployment=deployment, settings=settings
    )
    logged = log_model_card(
        card, tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
    )
    log.info("model card of %s logged to run %s: %s", card.model_id, logged.run_id, logged.paths["markdown"])
    return card, logged
