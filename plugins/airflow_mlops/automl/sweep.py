"""The AutoML sweep: Optuna searches over model families, MLflow records every trial.

One Optuna trial is one (family, hyper-parameters) candidate scored by
cross-validation of the full pipeline (preprocessing included, so no fold
leaks into another's imputation or encoding). Each trial is an MLflow child
run under one parent run per sweep, so the MLflow UI shows the sweep as a
tree and the leaderboard links back to every run.

Nothing here imports Airflow: operators wrap :func:`run_sweep` and
:func:`fit_pipeline`, and the same code runs from a notebook or a test.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
import optuna
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from optuna.storages import BaseStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from airflow_mlops.automl.families import (
    ModelFamily,
    ScopedTrial,
    get_family,
    resolve_families,
    scoped_param_name,
)
from airflow_mlops.automl.preprocess import FeatureType, build_preprocessor, infer_feature_types
from airflow_mlops.automl.task import (
    TaskType,
    default_metric,
    detect_task,
    get_metric,
    validate_task,
)
from airflow_mlops.config import get_settings
from airflow_mlops.registry.models import get_or_create_experiment, quiet_mlflow_logs

ProgressCallback = Callable[[str], None]

LEADERBOARD_COLUMNS = ("rank", "family", "score", "metric", "params", "trial_number", "run_id", "fit_time_s")
LEADERBOARD_ARTIFACT = "leaderboard.json"
_FAMILY_PARAM = "family"
_FINISHED_STATES = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class SweepConfig:
    """What to search and where to record it; checked on construction so a typo fails the task at once.

    ``n_trials`` is the study's total: re-running a persistent study (an
    Airflow retry, another worker) only tops it up to that many finished
    trials. ``storage`` is ``None`` (in memory), an Optuna RDB URL such as
    ``sqlite:///studies.db``, or a file path for an Optuna journal file, which
    needs no database and tolerates several processes. ``tracking_uri``
    defaults to the project settings, never to MLflow's ``./mlruns``;
    ``artifact_location`` only applies when the experiment is created.
    """

    target: str
    task: TaskType | None = None
    metric: str | None = None
    families: Sequence[str] | None = None
    n_trials: int = 20
    timeout_s: float | None = None
    cv_folds: int = 3
    seed: int = 0
    study_name: str | None = None
    storage: str | None = None
    experiment_name: str = "automl"
    tracking_uri: str | None = None
    artifact_location: str | None = None
    exclude: Sequence[str] = ()

    def __post_init__(self) -> None:
        _check(
            isinstance(self.target, str) and bool(self.target),
            f"target={self.target!r} must be a column name",
        )
        if self.task is not None:
            validate_task(self.task)
        if self.metric is not None:
            get_metric(self.metric, self.task)
        if self.families is not None:
            families = (self.families,) if isinstance(self.families, str) else tuple(self.families)
            for name in families:
                get_family(name)
            object.__setattr__(self, "families", families)
        exclude = (self.exclude,) if isinstance(self.exclude, str) else tuple(self.exclude)
        _check(self.target not in exclude, f"exclude={exclude!r} contains the target {self.target!r}")
        object.__setattr__(self, "exclude", exclude)
        _check(
            _is_int(self.n_trials) and self.n_trials >= 1, f"n_trials={self.n_trials!r} must be an int >= 1"
        )
        _check(
            self.timeout_s is None or (isinstance(self.timeout_s, int | float) and self.timeout_s > 0),
            f"timeout_s={self.timeout_s!r} must be a positive number of seconds or None",
        )
        _check(
            _is_int(self.cv_folds) and self.cv_folds >= 2, f"cv_folds={self.cv_folds!r} must be an int >= 2"
        )
        _check(
            _is_int(self.seed) and 0 <= self.seed < 2**32,
            f"seed={self.seed!r} must be an int in [0, 2**32)",
        )
        for name in ("study_name", "storage", "tracking_uri", "artifact_location"):
            value = getattr(self, name)
            _check(
                value is None or (isinstance(value, str) and bool(value.strip())),
                f"{name}={value!r} must be a non-empty string or None",
            )
        _check(
            isinstance(self.experiment_name, str) and bool(self.experiment_name.strip()),
            f"experiment_name={self.experiment_name!r} must be a non-empty string",
        )


@dataclass(frozen=True)
class SweepResult:
    """The sweep's outcome: enough to refit the winner and to show the leaderboard."""

    leaderboard: pd.DataFrame
    best_family: str
    best_params: dict[str, Any]
    best_score: float
    metric: str
    greater_is_better: bool
    task: TaskType
    target: str
    study_name: str
    parent_run_id: str
    experiment_id: str
    feature_types: dict[str, FeatureType] = field(default_factory=dict)
    n_failed_trials: int = 0

    def leaderboard_records(self) -> list[dict[str, Any]]:
        """The leaderboard as plain JSON-safe dicts (for XCom, an API response, a report)."""
        return [_leaderboard_record(row) for row in self.leaderboard.to_dict(orient="records")]


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return value


def _leaderboard_record(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key): _json_value(value) for key, value in row.items()}


def build_pipeline(
    family: str | ModelFamily,
    params: Mapping[str, Any],
    task: TaskType,
    seed: int,
    feature_types: Mapping[str, FeatureType],
) -> Pipeline:
    """An unfitted preprocessor + estimator pipeline; what the sweep scores and the refit fits."""
    fam = get_family(family) if isinstance(family, str) else family
    _check(task in fam.tasks, f"family {fam.name!r} does not support task {task!r}")
    return Pipeline(
        [
            ("preprocess", build_preprocessor(feature_types, scale=fam.needs_scaling)),
            ("model", fam.build(dict(params), task, seed)),
        ]
    )


def _split_xy(
    df: pd.DataFrame, target: str, feature_types: Mapping[str, FeatureType]
) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target, without rows whose target is unknown (nothing to learn from them)."""
    _check(target in df.columns, f"target {target!r} is not a column; columns are {list(df.columns)}")
    missing = [name for name in feature_types if name not in df.columns]
    _check(not missing, f"feature columns {missing} are not in the frame")
    labelled = df[df[target].notna()]
    return labelled[list(feature_types)], labelled[target]


def fit_pipeline(
    df: pd.DataFrame,
    target: str,
    family: str | ModelFamily,
    params: Mapping[str, Any],
    task: TaskType,
    seed: int,
    feature_types: Mapping[str, FeatureType] | None = None,
) -> Pipeline:
    """Refit a candidate on all given rows: the sweep's winner becomes a deployable model this way."""
    validate_task(task)
    types = dict(feature_types) if feature_types is not None else infer_feature_types(df, target)
    X, y = _split_xy(df, target, types)
    _check(len(y) > 0, f"no rows with a known {target!r} to fit on")
    pipeline = build_pipeline(family, params, task, seed, types)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(X, y)
    return pipeline


def _resolve_storage(storage: str | None) -> str | BaseStorage | None:
    """A URL goes to Optuna as is (RDB); anything else is a journal file path."""
    if storage is None or "://" in storage:
        return storage
    path = Path(storage).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def _quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the progress callback and MLflow already say it."""
    if optuna.logging.get_verbosity() <= optuna.logging.INFO:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


def _metric_key(metric: str) -> str:
    return metric.replace(" ", "_")


def _param_value(value: Any) -> str:
    return "None" if value is None else str(value)


def _check_classes(y: pd.Series, cv_folds: int) -> None:
    counts = y.value_counts()
    rare = counts[counts < cv_folds]
    if not rare.empty:
        raise ValueError(
            f"classes {rare.to_dict()} have fewer rows than cv_folds={cv_folds}; "
            "each fold needs every class: lower cv_folds, merge rare classes or drop them"
        )


def _study_attrs(config: SweepConfig, task: TaskType, metric: str, families: list[str]) -> dict[str, Any]:
    return {"target": config.target, "task": task, "metric": metric, "families": families}


def _check_resumed_study(study: optuna.Study, expected: Mapping[str, Any]) -> None:
    """Refuse to mix trials scored differently into one study (another metric, task, or target)."""
    stored = study.user_attrs
    if not stored:
        for key, value in expected.items():
            study.set_user_attr(key, value)
        return
    # Families count too: Optuna refuses a "family" parameter whose choices changed.
    clash = {key: (stored.get(key), value) for key, value in expected.items() if stored.get(key) != value}
    if clash:
        raise ValueError(
            f"study {study.study_name!r} already exists with different settings "
            f"(stored vs requested): {clash}; use another study_name"
        )


def _best_so_far(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


def _leaderboard(trials: Sequence[FrozenTrial], metric: str, greater_is_better: bool) -> pd.DataFrame:
    rows = [
        {
            "family": trial.user_attrs.get("family", trial.params.get(_FAMILY_PARAM)),
            "score": float(trial.value) if trial.value is not None else math.nan,
            "metric": metric,
            "params": dict(trial.user_attrs.get("params", {})),
            "trial_number": trial.number,
            "run_id": trial.user_attrs.get("run_id"),
            "fit_time_s": float(trial.user_attrs.get("fit_time_s", math.nan)),
        }
        for trial in trials
        if trial.value is not None and math.isfinite(trial.value)
    ]
    frame = pd.DataFrame(rows, columns=[c for c in LEADERBOARD_COLUMNS if c != "rank"])
    if frame.empty:
        frame.insert(0, "rank", pd.Series(dtype=int))
        return frame
    # Ties go to the earlier trial, which keeps the order reproducible.
    frame = frame.sort_values(
        ["score", "trial_number"], ascending=[not greater_is_better, True], kind="mergesort"
    ).reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def run_sweep(
    df: pd.DataFrame,
    config: SweepConfig,
    *,
    progress: ProgressCallback | None = None,
) -> SweepResult:
    """Search families and hyper-parameters; return the leaderboard and the winner's settings.

    Each family's ``default_params`` is enqueued first, so even a sweep cut
    short by ``timeout_s`` has scored every family once at a known-good point
    before the seeded TPE sampler explores. A trial that raises (a bad
    parameter combination, a numerical failure) is recorded as a failed MLflow
    run and the sweep goes on; only a sweep with no successful trial fails.
    The leaderboard covers the whole study, so a resumed persistent study
    lists earlier calls' trials too (their MLflow runs sit under the earlier
    parent runs). The winner is not refitted here: call :func:`fit_pipeline`
    with ``best_family`` / ``best_params``, on the same rows or more.
    """
    if not isinstance(config, SweepConfig):
        raise TypeError(f"config must be a SweepConfig, got {type(config).__name__}")
    _quiet_optuna()
    quiet_mlflow_logs()

    target = config.target
    _check(target in df.columns, f"target {target!r} is not a column; columns are {list(df.columns)}")
    task = detect_task(df[target], config.task)
    metric_name = config.metric or default_metric(task)
    spec = get_metric(metric_name, task)
    scorer = spec.scorer(task)
    families = resolve_families(config.families, task)
    family_by_name = {family.name: family for family in families}
    feature_types = infer_feature_types(df, target, config.exclude)
    X, y = _split_xy(df, target, feature_types)
    _check(
        len(y) >= 2 * config.cv_folds,
        f"{len(y)} labelled rows are too few for cv_folds={config.cv_folds}",
    )
    if task == "regression":
        splitter: KFold | StratifiedKFold = KFold(config.cv_folds, shuffle=True, random_state=config.seed)
    else:
        _check_classes(y, config.cv_folds)
        splitter = StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.seed)

    # Unique by default: reusing a name on persistent storage means "resume that study".
    study_name = config.study_name or f"automl-{target}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid4().hex[:6]}"
    sampler = optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=len(families) + 5)
    study = optuna.create_study(
        storage=_resolve_storage(config.storage),
        sampler=sampler,
        study_name=study_name,
        direction="maximize" if spec.greater_is_better else "minimize",
        load_if_exists=True,
    )
    _check_resumed_study(study, _study_attrs(config, task, metric_name, list(family_by_name)))
    for family in families:
        warm_start = {
            _FAMILY_PARAM: family.name,
            **{
                scoped_param_name(family.name, key): value
                for key, value in family.default_params(task).items()
            },
        }
        study.enqueue_trial(warm_start, user_attrs={"warm_start": True}, skip_if_exists=True)

    client = MlflowClient(tracking_uri=config.tracking_uri or get_settings().mlflow_tracking_uri)
    experiment_id = get_or_create_experiment(client, config.experiment_name, config.artifact_location)
    parent = client.create_run(
        experiment_id,
        run_name=study_name,
        tags={"airflow_mlops.kind": "automl_sweep", "optuna.study_name": study_name},
    )
    parent_id = parent.info.run_id
    key = _metric_key(metric_name)

    def objective(trial: optuna.Trial) -> float:
        family = family_by_name[str(trial.suggest_categorical(_FAMILY_PARAM, list(family_by_name)))]
        params = family.suggest(ScopedTrial(trial, family.name), task)
        run = client.create_run(
            experiment_id,
            run_name=f"trial-{trial.number:03d}-{family.name}",
            tags={
                MLFLOW_PARENT_RUN_ID: parent_id,
                "airflow_mlops.kind": "automl_trial",
                "optuna.study_name": study_name,
                "optuna.trial_number": str(trial.number),
                "family": family.name,
            },
        )
        run_id = run.info.run_id
        trial.set_user_attr("run_id", run_id)
        trial.set_user_attr("family", family.name)
        trial.set_user_attr("params", params)
        client.log_batch(
            run_id,
            params=[Param(_FAMILY_PARAM, family.name), Param("metric", metric_name)]
            + [Param(name, _param_value(value)) for name, value in params.items()],
        )
        try:
            pipeline = build_pipeline(family, params, task, config.seed, feature_types)
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                scores = cross_validate(pipeline, X, y, cv=splitter, scoring=scorer, error_score="raise")
            fit_time_s = time.perf_counter() - started
            folds = [spec.sign * float(value) for value in scores["test_score"]]
            mean = float(np.mean(folds))
            if not math.isfinite(mean):
                raise ValueError(f"{metric_name} is {mean} for folds {folds}")
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            client.set_tag(run_id, "error", f"{type(exc).__name__}: {exc}"[:5000])
            client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FAILED))
            raise
        trial.set_user_attr("fit_time_s", fit_time_s)
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(f"{key}_fold_{i}", value, now, 0) for i, value in enumerate(folds)]
            + [
                Metric(f"{key}_mean", mean, now, 0),
                Metric(f"{key}_std", float(np.std(folds)), now, 0),
                Metric("fit_time_s", fit_time_s, now, 0),
            ],
        )
        client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FINISHED))
        return mean

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        if progress is None:
            return
        done = len(study.get_trials(deepcopy=False, states=_FINISHED_STATES))
        family = trial.user_attrs.get("family", trial.params.get(_FAMILY_PARAM))
        outcome = f"{metric_name}={trial.value:.6g}" if trial.value is not None else trial.state.name
        best = _best_so_far(study)
        best_text = (
            f"best {best.user_attrs.get('family')} {metric_name}={best.value:.6g} (trial {best.number})"
            if best is not None and best.value is not None
            else "no successful trial yet"
        )
        progress(f"trial {done}/{config.n_trials} {family}: {outcome}; {best_text}")

    try:
        client.log_batch(
            parent_id,
            params=[
                Param("target", target),
                Param("task", task),
                Param("metric", metric_name),
                Param("families", ",".join(family_by_name)),
                Param("n_trials", str(config.n_trials)),
                Param("timeout_s", _param_value(config.timeout_s)),
                Param("cv_folds", str(config.cv_folds)),
                Param("seed", str(config.seed)),
                Param("n_rows", str(len(y))),
                Param("n_features", str(len(feature_types))),
            ],
            tags=[RunTag("optuna.storage", "memory" if config.storage is None else "persistent")],
        )
        remaining = config.n_trials - len(study.get_trials(deepcopy=False, states=_FINISHED_STATES))
        if remaining > 0:
            study.optimize(
                objective,
                n_trials=remaining,
                timeout=config.timeout_s,
                catch=(Exception,),
                callbacks=[optuna.study.MaxTrialsCallback(config.n_trials, states=_FINISHED_STATES), report],
            )
        finished = study.get_trials(deepcopy=False, states=_FINISHED_STATES)
        leaderboard = _leaderboard(finished, metric_name, spec.greater_is_better)
        n_failed = len(finished) - len(leaderboard)
        if leaderboard.empty:
            errors = [trial.user_attrs.get("error") for trial in finished if trial.user_attrs.get("error")]
            raise RuntimeError(
                f"all {len(finished)} trials of study {study_name!r} failed; first error: "
                f"{errors[0] if errors else 'unknown'}"
            )
        best = leaderboard.iloc[0]
        table = leaderboard.assign(params=leaderboard["params"].map(lambda p: json.dumps(_json_value(p))))
        client.log_table(parent_id, table, LEADERBOARD_ARTIFACT)
        now = int(time.time() * 1000)
        client.log_batch(
            parent_id,
            metrics=[
                Metric(f"best_{key}", float(best["score"]), now, 0),
                Metric("n_failed_trials", float(n_failed), now, 0),
            ],
            tags=[
                RunTag("best_family", str(best["family"])),
                RunTag("best_run_id", str(best["run_id"])),
                RunTag("best_params", json.dumps(_json_value(best["params"]))),
            ],
        )
    except Exception:
        client.set_terminated(parent_id, status=RunStatus.to_string(RunStatus.FAILED))
        raise
    except BaseException:  # KeyboardInterrupt, an Airflow task being killed
        client.set_terminated(parent_id, status=RunStatus.to_string(RunStatus.KILLED))
        raise
    client.set_terminated(parent_id, status=RunStatus.to_string(RunStatus.FINISHED))

    return SweepResult(
        leaderboard=leaderboard,
        best_family=str(best["family"]),
        best_params=dict(best["params"]),
        best_score=float(best["score"]),
        metric=metric_name,
        greater_is_better=spec.greater_is_better,
        task=task,
        target=target,
        study_name=study_name,
        parent_run_id=parent_id,
        experiment_id=experiment_id,
        feature_types=feature_types,
        n_failed_trials=n_failed,
    )
