"""The AutoML sweep: Optuna searches model families with staged fidelity, MLflow records every trial.

A sweep has three steps, so that several workers can share one study:

1. :func:`prepare_sweep` checks the data and settings, creates (or reopens)
   the Optuna study and the MLflow parent run, fails trials that a killed
   worker left running and queues their parameters again, queues every
   family's known-good defaults first, and fixes the deadline;
2. :func:`run_worker`, once per worker (an Airflow mapped task, a process,
   a machine), asks the study for candidates until the trial count or the
   deadline is reached; each candidate is cross-validated stage by stage on
   growing samples (:mod:`~airflow_mlops.automl.fidelity`) and scored on a
   fixed holdout the search never optimises on;
3. :func:`finish_sweep` ranks every candidate, stores the leaderboard as an
   MLflow table and closes the parent run.

:func:`run_sweep` does all three in one process. Every worker derives the
same folds and holdout from the same rows and seed, so only the study and
MLflow are shared. Nothing here imports Airflow.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from airflow_mlops.automl.families import (
    ModelFamily,
    ScopedTrial,
    get_family,
    resolve_families,
    scoped_param_name,
)
from airflow_mlops.automl.fidelity import (
    MIN_SAMPLE_ROWS,
    MIN_TRIALS_PER_STAGE,
    Stage,
    is_hopeless,
    make_pruner,
    plan_stages,
    stage_values,
    subsample,
)
from airflow_mlops.automl.leaderboard import (
    FAMILY_PARAM,
    LEADERBOARD_ARTIFACT,
    LEADERBOARD_COLUMNS,
    build_leaderboard,
)
from airflow_mlops.automl.modes import DEFAULT_MODE, PRUNERS, PrunerKind, get_mode
from airflow_mlops.automl.preprocess import FeatureType, build_preprocessor, infer_feature_types
from airflow_mlops.automl.storage import open_storage, recover_interrupted_trials
from airflow_mlops.automl.task import (
    MetricSpec,
    TaskType,
    default_metric,
    detect_task,
    get_metric,
    validate_task,
)
from airflow_mlops.config import get_settings
from airflow_mlops.registry.models import get_or_create_experiment, quiet_mlflow_logs

__all__ = [
    "LEADERBOARD_ARTIFACT",
    "LEADERBOARD_COLUMNS",
    "SweepConfig",
    "SweepHandle",
    "SweepResult",
    "WorkerReport",
    "build_pipeline",
    "finish_sweep",
    "fit_pipeline",
    "prepare_sweep",
    "run_sweep",
    "run_worker",
]

ProgressCallback = Callable[[str], None]

#: Trials that count towards ``n_trials``: finished ones, and running ones (another worker's).
_COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
#: Part of the budget kept for ranking and logging the leaderboard after the last trial
#: (3%, at least half a second, at most two).
_FINISH_RESERVE_FRACTION = 0.03
_FINISH_RESERVE_MIN_S = 0.5
_FINISH_RESERVE_MAX_S = 2.0
#: Candidates in a row that cannot finish in the time left before a worker gives up early.
_MAX_OUT_OF_BUDGET = 8


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class SweepConfig:
    """What to search and where to record it; checked on construction so a typo fails the task at once.

    ``mode`` (``quick``/``auto``/``comprehensive``) sets the trial count, the
    wall-clock budget and the pruner; ``n_trials``, ``timeout_s`` and
    ``pruner`` override it. ``n_trials`` is the study's total: re-running a
    persistent study (an Airflow retry, another worker) only tops it up.
    ``timeout_s`` is a hard budget for the search of one sweep run: no fit
    starts that is expected to end past it. ``holdout_fraction`` of the rows
    is set aside (stratified for classes) and never used to choose a model.
    ``storage`` is ``None`` (in memory), a URL for an Optuna RDB (PostgreSQL
    across machines) or a file path for an Optuna journal file (several
    processes on one machine). ``tracking_uri`` defaults to the project
    settings, never to MLflow's ``./mlruns``. ``n_jobs`` caps the threads of
    each worker's fits (default: the machine's cores shared among workers).
    """

    target: str
    task: TaskType | None = None
    metric: str | None = None
    families: Sequence[str] | None = None
    mode: str = DEFAULT_MODE
    n_trials: int | None = None
    timeout_s: float | None = None
    pruner: PrunerKind | None = None
    cv_folds: int = 3
    holdout_fraction: float = 0.2
    min_sample_rows: int = MIN_SAMPLE_ROWS
    seed: int = 0
    study_name: str | None = None
    storage: str | None = None
    experiment_name: str = "automl"
    tracking_uri: str | None = None
    artifact_location: str | None = None
    exclude: Sequence[str] = ()
    n_jobs: int | None = None

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
        get_mode(self.mode)
        exclude = (self.exclude,) if isinstance(self.exclude, str) else tuple(self.exclude)
        _check(self.target not in exclude, f"exclude={exclude!r} contains the target {self.target!r}")
        object.__setattr__(self, "exclude", exclude)
        _check(
            self.n_trials is None or (_is_int(self.n_trials) and self.n_trials >= 1),
            f"n_trials={self.n_trials!r} must be an int >= 1 or None (the mode's)",
        )
        _check(
            self.timeout_s is None or (isinstance(self.timeout_s, int | float) and self.timeout_s > 0),
            f"timeout_s={self.timeout_s!r} must be a positive number of seconds or None (the mode's)",
        )
        _check(
            self.pruner is None or self.pruner in PRUNERS,
            f"pruner={self.pruner!r} is not valid; expected one of {', '.join(map(repr, PRUNERS))}",
        )
        _check(
            _is_int(self.cv_folds) and self.cv_folds >= 2, f"cv_folds={self.cv_folds!r} must be an int >= 2"
        )
        _check(
            isinstance(self.holdout_fraction, int | float) and 0 <= self.holdout_fraction < 0.5,
            f"holdout_fraction={self.holdout_fraction!r} must be in [0, 0.5)",
        )
        _check(
            _is_int(self.min_sample_rows) and self.min_sample_rows >= 1,
            f"min_sample_rows={self.min_sample_rows!r} must be an int >= 1",
        )
        _check(
            _is_int(self.seed) and 0 <= self.seed < 2**32,
            f"seed={self.seed!r} must be an int in [0, 2**32)",
        )
        _check(
            self.n_jobs is None or (_is_int(self.n_jobs) and self.n_jobs >= 1),
            f"n_jobs={self.n_jobs!r} must be an int >= 1 or None",
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

    @property
    def trial_budget(self) -> int:
        """``n_trials``, else the mode's."""
        return self.n_trials if self.n_trials is not None else get_mode(self.mode).n_trials

    @property
    def time_budget_s(self) -> float:
        """``timeout_s``, else the mode's."""
        return float(self.timeout_s if self.timeout_s is not None else get_mode(self.mode).timeout_s)

    @property
    def pruner_kind(self) -> PrunerKind:
        return self.pruner if self.pruner is not None else get_mode(self.mode).pruner


@dataclass(frozen=True)
class SweepHandle:
    """What workers need to join a prepared sweep; small and JSON-safe (an XCom)."""

    study_name: str
    storage: str | None
    parent_run_id: str
    experiment_id: str
    task: TaskType
    metric: str
    deadline: float
    started: float
    n_trials: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepHandle:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class WorkerReport:
    """What one worker did: its trials by outcome, and why it stopped."""

    worker_index: int
    completed: int
    pruned: int
    failed: int
    stopped_by: str
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SweepResult:
    """The sweep's outcome: enough to refit the winner and to show the leaderboard."""

    leaderboard: pd.DataFrame
    best_family: str
    best_params: dict[str, Any]
    best_score: float
    best_holdout_score: float
    metric: str
    greater_is_better: bool
    task: TaskType
    target: str
    study_name: str
    parent_run_id: str
    experiment_id: str
    feature_types: dict[str, FeatureType] = field(default_factory=dict)
    n_failed_trials: int = 0
    n_pruned_trials: int = 0
    elapsed_s: float = math.nan

    def leaderboard_records(self) -> list[dict[str, Any]]:
        """The leaderboard as plain JSON-safe dicts (for XCom, an API response, a report)."""
        return [_json_value(row) for row in self.leaderboard.to_dict(orient="records")]


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


def build_pipeline(
    family: str | ModelFamily,
    params: Mapping[str, Any],
    task: TaskType,
    seed: int,
    feature_types: Mapping[str, FeatureType],
    n_jobs: int | None = None,
) -> Pipeline:
    """An unfitted preprocessor + estimator pipeline; what the sweep scores and the refit fits.

    ``n_jobs`` goes to the estimator of a family that declares ``parallel =
    True`` (forests, neighbours, LightGBM), so families need not know how
    parallel a worker is.
    """
    fam = get_family(family) if isinstance(family, str) else family
    _check(task in fam.tasks, f"family {fam.name!r} does not support task {task!r}")
    model = fam.build(dict(params), task, seed)
    if n_jobs is not None and getattr(fam, "parallel", False) and "n_jobs" in model.get_params():
        model.set_params(n_jobs=n_jobs)
    return Pipeline(
        [
            ("preprocess", build_preprocessor(feature_types, scale=fam.needs_scaling)),
            ("model", model),
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


def _parallelism(n_jobs: int) -> Any:
    """Cap native threads (OpenMP in histogram boosting, BLAS) at ``n_jobs``; silence fit warnings.

    joblib is left alone: a global ``n_jobs`` would also parallelise the
    column transformer, whose process start-up costs more than its work.
    """
    from contextlib import ExitStack

    stack = ExitStack()
    stack.enter_context(threadpool_limits(n_jobs))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", UserWarning)
    return stack


def fit_pipeline(
    df: pd.DataFrame,
    target: str,
    family: str | ModelFamily,
    params: Mapping[str, Any],
    task: TaskType,
    seed: int,
    feature_types: Mapping[str, FeatureType] | None = None,
    n_jobs: int | None = None,
) -> Pipeline:
    """Refit a candidate on all given rows: the sweep's winner becomes a deployable model this way."""
    validate_task(task)
    types = dict(feature_types) if feature_types is not None else infer_feature_types(df, target)
    X, y = _split_xy(df, target, types)
    _check(len(y) > 0, f"no rows with a known {target!r} to fit on")
    jobs = n_jobs or os.cpu_count() or 1
    pipeline = build_pipeline(family, params, task, seed, types, jobs)
    with _parallelism(jobs):
        pipeline.fit(X, y)
    return pipeline


def _quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the progress callback and MLflow already say it."""
    if optuna.logging.get_verbosity() <= optuna.logging.INFO:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


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


@dataclass
class _Data:
    """The rows as every worker sees them: the same folds and holdout from the same seed."""

    task: TaskType
    metric: str
    spec: MetricSpec
    families: list[ModelFamily]
    feature_types: dict[str, FeatureType]
    X: pd.DataFrame
    y: pd.Series
    X_holdout: pd.DataFrame | None
    y_holdout: pd.Series | None
    folds: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]
    stages: list[Stage]


def _prepare_data(df: pd.DataFrame, config: SweepConfig) -> _Data:
    """Check the rows against the settings and cut the holdout and folds (deterministic in the seed)."""
    target = config.target
    _check(target in df.columns, f"target {target!r} is not a column; columns are {list(df.columns)}")
    task = detect_task(df[target], config.task)
    metric = config.metric or default_metric(task)
    spec = get_metric(metric, task)
    families = resolve_families(config.families, task)
    feature_types = infer_feature_types(df, target, config.exclude)
    X, y = _split_xy(df, target, feature_types)
    X, y = X.reset_index(drop=True), y.reset_index(drop=True)
    classification = task != "regression"
    if classification:
        _check_classes(y, config.cv_folds)
    n_holdout = math.floor(len(y) * config.holdout_fraction)
    X_holdout: pd.DataFrame | None = None
    y_holdout: pd.Series | None = None
    if n_holdout >= 2 and (not classification or n_holdout >= y.nunique()):
        X, X_holdout, y, y_holdout = train_test_split(
            X, y, test_size=n_holdout, random_state=config.seed, stratify=y if classification else None
        )
        X, y = X.reset_index(drop=True), y.reset_index(drop=True)
    _check(
        len(y) >= 2 * config.cv_folds,
        f"{len(y)} labelled rows are too few for cv_folds={config.cv_folds}",
    )
    splitter: KFold | StratifiedKFold = (
        StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.seed)
        if classification
        else KFold(config.cv_folds, shuffle=True, random_state=config.seed)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only n members"
        folds = [(np.asarray(tr), np.asarray(va)) for tr, va in splitter.split(X, y)]
    stages = plan_stages(min(len(tr) for tr, _ in folds), config.min_sample_rows)
    return _Data(task, metric, spec, families, feature_types, X, y, X_holdout, y_holdout, folds, stages)


def _study_attrs(config: SweepConfig, data: _Data) -> dict[str, Any]:
    """What must agree for trials to be comparable; a resumed study with other values is refused."""
    return {
        "target": config.target,
        "task": data.task,
        "metric": data.metric,
        "families": [family.name for family in data.families],
        "cv_folds": config.cv_folds,
        "holdout_fraction": config.holdout_fraction,
        "seed": config.seed,
        "stages": [stage.fraction for stage in data.stages],
        "n_rows": len(data.y),
    }


def _check_resumed_study(study: optuna.Study, expected: Mapping[str, Any]) -> None:
    """Refuse to mix trials scored differently into one study (another metric, task, data...)."""
    stored = study.user_attrs
    if "target" not in stored:
        for key, value in expected.items():
            study.set_user_attr(key, value)
        return
    clash = {key: (stored.get(key), value) for key, value in expected.items() if stored.get(key) != value}
    if clash:
        raise ValueError(
            f"study {study.study_name!r} already exists with different settings "
            f"(stored vs requested): {clash}; use another study_name"
        )


def _load_study(
    config: SweepConfig, data: _Data, study_name: str, worker_index: int, *, fresh: bool = False
) -> optuna.Study:
    """The shared study with this worker's own sampler (seeded per worker) and the staged pruner."""
    sampler = optuna.samplers.TPESampler(
        seed=(config.seed + 7919 * worker_index) % 2**32,
        n_startup_trials=len(data.families) + 4,
        multivariate=True,
        group=True,
        constant_liar=True,
    )
    return optuna.create_study(
        storage=_storage(config, study_name, fresh=fresh),
        sampler=sampler,
        pruner=make_pruner(config.pruner_kind, data.stages),
        study_name=study_name,
        direction="maximize" if data.spec.greater_is_better else "minimize",
        load_if_exists=True,
    )


#: In-memory studies by name, so that the three steps of :func:`run_sweep` share one.
_MEMORY: dict[str, optuna.storages.BaseStorage] = {}
#: Opened persistent storages by location: a journal or a database pool, once per process.
_OPENED: dict[str, optuna.storages.BaseStorage] = {}


def _storage(config: SweepConfig, study_name: str, *, fresh: bool = False) -> optuna.storages.BaseStorage:
    """The study's storage; ``fresh`` (only when preparing) starts a new in-memory one."""
    if config.storage is None:
        if fresh or study_name not in _MEMORY:
            _MEMORY[study_name] = optuna.storages.InMemoryStorage()
        return _MEMORY[study_name]
    if config.storage not in _OPENED:
        opened = open_storage(config.storage)
        assert opened is not None
        _OPENED[config.storage] = opened
    return _OPENED[config.storage]


def _client(config: SweepConfig) -> MlflowClient:
    return MlflowClient(tracking_uri=config.tracking_uri or get_settings().mlflow_tracking_uri)


def prepare_sweep(df: pd.DataFrame, config: SweepConfig) -> SweepHandle:
    """Create or reopen the study and the MLflow parent run; fix the deadline. Run once per sweep run."""
    if not isinstance(config, SweepConfig):
        raise TypeError(f"config must be a SweepConfig, got {type(config).__name__}")
    _quiet_optuna()
    quiet_mlflow_logs()
    started = time.time()
    data = _prepare_data(df, config)
    # Unique by default: reusing a name on persistent storage means "resume that study".
    study_name = (
        config.study_name or f"automl-{config.target}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid4().hex[:6]}"
    )
    study = _load_study(config, data, study_name, 0, fresh=True)
    _check_resumed_study(study, _study_attrs(config, data))
    recover_interrupted_trials(study)
    for family in data.families:
        warm_start = {
            FAMILY_PARAM: family.name,
            **{
                scoped_param_name(family.name, key): value
                for key, value in family.default_params(data.task).items()
            },
        }
        study.enqueue_trial(warm_start, user_attrs={"warm_start": True}, skip_if_exists=True)

    client = _client(config)
    experiment_id = get_or_create_experiment(client, config.experiment_name, config.artifact_location)
    parent_id = study.user_attrs.get("parent_run_id")
    if parent_id:
        client.update_run(parent_id, status=RunStatus.to_string(RunStatus.RUNNING))
    else:
        parent = client.create_run(
            experiment_id,
            run_name=study_name,
            tags={"airflow_mlops.kind": "automl_sweep", "optuna.study_name": study_name},
        )
        parent_id = parent.info.run_id
        study.set_user_attr("parent_run_id", parent_id)
        client.log_batch(
            parent_id,
            params=[
                Param("target", config.target),
                Param("task", data.task),
                Param("metric", data.metric),
                Param("families", ",".join(f.name for f in data.families)),
                Param("mode", config.mode),
                Param("n_trials", str(config.trial_budget)),
                Param("timeout_s", str(config.time_budget_s)),
                Param("pruner", config.pruner_kind),
                Param("stages", ",".join(f"{s.fraction:g}" for s in data.stages)),
                Param("cv_folds", str(config.cv_folds)),
                Param("holdout_fraction", str(config.holdout_fraction)),
                Param("seed", str(config.seed)),
                Param("n_rows", str(len(data.y))),
                Param("n_holdout_rows", str(0 if data.y_holdout is None else len(data.y_holdout))),
                Param("n_features", str(len(data.feature_types))),
            ],
            tags=[RunTag("optuna.storage", "memory" if config.storage is None else "persistent")],
        )
    return SweepHandle(
        study_name=study_name,
        storage=config.storage,
        parent_run_id=str(parent_id),
        experiment_id=str(experiment_id),
        task=data.task,
        metric=data.metric,
        deadline=started + config.time_budget_s,
        started=started,
        n_trials=config.trial_budget,
    )


def _counted(study: optuna.Study) -> int:
    """Trials towards ``n_trials``: finished or running, and failed ones that failed on their own.

    A trial failed because its worker was killed does not count: its
    parameters run again (see :func:`~airflow_mlops.automl.storage.recover_interrupted_trials`).
    """
    return sum(
        1
        for trial in study.get_trials(deepcopy=False)
        if trial.state in _COUNTED_STATES or (trial.state == TrialState.FAIL and "error" in trial.user_attrs)
    )


def _is_surplus(study: optuna.Study, number: int, n_trials: int) -> bool:
    """Whether trial ``number`` is one too many: workers that ask at once could overshoot ``n_trials``.

    Of the running trials beyond the limit, the latest ones give way, so
    exactly one of two racing workers stops.
    """
    excess = _counted(study) - n_trials
    if excess <= 0:
        return False
    running = sorted(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    return number in running[-excess:]


class _OutOfBudget(Exception):
    """The next fit would end past the deadline."""


class _Hopeless(Exception):
    """Worse than every other candidate at this stage after some folds."""


@dataclass
class _Clock:
    """Seconds per training row of each family's recent fits, to predict whether the next fit fits the budget.

    A candidate's own previous fold is the best predictor; else the family's
    last fit; else the median over families (one slow outlier, e.g. a fit
    that waited for the CPU, must not make every other family look too slow).
    """

    deadline: float
    rate: dict[str, float] = field(default_factory=dict)

    def check(self, family: str, rows: int, own_rate: float | None) -> None:
        known = own_rate if own_rate is not None else self.rate.get(family)
        if known is None and self.rate:
            known = float(np.median(list(self.rate.values())))
        expected = (known or 0.0) * rows
        if time.time() + expected > self.deadline:
            raise _OutOfBudget(f"a fit on {rows} rows takes ~{expected:.1f}s; past the deadline")

    def record(self, family: str, rows: int, seconds: float) -> float:
        rate = seconds / max(rows, 1)
        self.rate[family] = rate
        return rate


def _score(spec: MetricSpec, task: TaskType, model: Pipeline, X: pd.DataFrame, y: pd.Series) -> float:
    return spec.sign * float(get_scorer(spec.scorer(task))(model, X, y))


def _evaluate(
    trial: optuna.Trial,
    family: ModelFamily,
    params: dict[str, Any],
    data: _Data,
    config: SweepConfig,
    clock: _Clock,
    log_metrics: Callable[[list[Metric]], None],
    n_jobs: int,
) -> float:
    """Cross-validate one candidate stage by stage; raise ``TrialPruned`` when it should stop."""
    key = _metric_key(data.metric)
    direction = StudyDirection.MAXIMIZE if data.spec.greater_is_better else StudyDirection.MINIMIZE
    stratify = data.task != "regression"
    total_fit = 0.0
    own_rate: float | None = None
    mean = math.nan
    for index, stage in enumerate(data.stages):
        others = stage_values(trial.study, stage.step, exclude=trial.number)
        fold_scores: list[float] = []
        holdout_scores: list[float] = []
        predict_rows = 0
        predict_time = 0.0
        pipeline: Pipeline | None = None
        for k, (train_idx, valid_idx) in enumerate(data.folds):
            rows = subsample(data.y, train_idx, stage.fraction, config.seed + k, stratify)
            clock.check(family.name, len(rows), None if own_rate is None else own_rate * 1.2)
            pipeline = build_pipeline(family, params, data.task, config.seed, data.feature_types, n_jobs)
            began = time.perf_counter()
            pipeline.fit(data.X.iloc[rows], data.y.iloc[rows])
            fitted = time.perf_counter()
            fold_scores.append(
                _score(data.spec, data.task, pipeline, data.X.iloc[valid_idx], data.y.iloc[valid_idx])
            )
            predict_time += time.perf_counter() - fitted
            predict_rows += len(valid_idx)
            if data.X_holdout is not None and data.y_holdout is not None:
                holdout_scores.append(_score(data.spec, data.task, pipeline, data.X_holdout, data.y_holdout))
            elapsed = time.perf_counter() - began
            total_fit += fitted - began
            own_rate = clock.record(family.name, len(rows), elapsed)
            if (
                config.pruner_kind != "none"
                and k < len(data.folds) - 1
                and is_hopeless(fold_scores, others, direction, MIN_TRIALS_PER_STAGE)
            ):
                trial.set_user_attr("pruned_by", f"hopeless after fold {k} at {stage.fraction:.0%}")
                raise _Hopeless
        assert pipeline is not None
        mean = float(np.mean(fold_scores))
        if not math.isfinite(mean):
            raise ValueError(f"{data.metric} is {mean} for folds {fold_scores}")
        holdout = float(np.mean(holdout_scores)) if holdout_scores else math.nan
        sample_pct = round(100 * stage.fraction)
        attrs = {
            "sample_pct": sample_pct,
            "cv_score": mean,
            "holdout_score": holdout,
            "fit_time_s": total_fit,
            "predict_rows_per_s": predict_rows / max(predict_time, 1e-9),
            "model_size_bytes": len(pickle.dumps(pipeline)),
        }
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        now = int(time.time() * 1000)
        metrics = [Metric(f"{key}_fold_{k}", v, now, stage.step) for k, v in enumerate(fold_scores)]
        metrics += [
            Metric(f"{key}_cv", mean, now, stage.step),
            Metric("sample_pct", sample_pct, now, stage.step),
        ]
        metrics += [
            Metric(name, float(attrs[name]), now, stage.step)
            for name in ("fit_time_s", "predict_rows_per_s", "model_size_bytes")
        ]
        if math.isfinite(holdout):
            metrics.append(Metric(f"holdout_{key}", holdout, now, stage.step))
        log_metrics(metrics)
        trial.report(mean, stage.step)
        if index < len(data.stages) - 1 and trial.should_prune():
            trial.set_user_attr("pruned_by", f"{config.pruner_kind} at {stage.fraction:.0%}")
            raise optuna.TrialPruned
    return mean


def run_worker(
    df: pd.DataFrame,
    config: SweepConfig,
    handle: SweepHandle,
    *,
    worker_index: int = 0,
    n_workers: int = 1,
    progress: ProgressCallback | None = None,
) -> WorkerReport:
    """Run candidates of the prepared study until it has ``n_trials`` or the deadline comes.

    Safe to run in several processes at once: each asks the shared study for
    the next candidate (queued warm starts first, then its own seeded TPE
    sampler), so no candidate runs twice. A candidate that raises is recorded
    as a failed trial and MLflow run; the worker goes on.
    """
    _quiet_optuna()
    quiet_mlflow_logs()
    began = time.time()
    data = _prepare_data(df, config)
    study = _load_study(config, data, handle.study_name, worker_index)
    client = _client(config)
    reserve = _FINISH_RESERVE_FRACTION * config.time_budget_s
    deadline = handle.deadline - min(_FINISH_RESERVE_MAX_S, max(_FINISH_RESERVE_MIN_S, reserve))
    clock = _Clock(deadline)
    n_jobs = config.n_jobs or max(1, (os.cpu_count() or 1) // max(1, n_workers))
    counts = {"completed": 0, "pruned": 0, "failed": 0}
    stopped_by = "n_trials"
    out_of_budget = 0  # candidates in a row too slow for the time left: a cheaper one may still fit
    while True:
        if _counted(study) >= handle.n_trials:
            break
        if time.time() >= deadline:
            stopped_by = "timeout"
            break
        trial = study.ask()
        if _is_surplus(study, trial.number, handle.n_trials):
            # Another worker asked at the same moment and the study is full: give this one back.
            study.tell(trial, state=TrialState.FAIL)
            break
        family = get_family(str(trial.suggest_categorical(FAMILY_PARAM, [f.name for f in data.families])))
        params = family.suggest(ScopedTrial(trial, family.name), data.task)
        run_id = client.create_run(
            handle.experiment_id,
            run_name=f"trial-{trial.number:03d}-{family.name}",
            tags={
                MLFLOW_PARENT_RUN_ID: handle.parent_run_id,
                "airflow_mlops.kind": "automl_trial",
                "optuna.study_name": handle.study_name,
                "optuna.trial_number": str(trial.number),
                "family": family.name,
                "worker_index": str(worker_index),
            },
        ).info.run_id
        for name, value in {"run_id": run_id, "family": family.name, "params": params}.items():
            trial.set_user_attr(name, value)
        client.log_batch(
            run_id,
            params=[Param(FAMILY_PARAM, family.name), Param("metric", data.metric)]
            + [Param(name, _param_value(value)) for name, value in params.items()],
        )

        def log_metrics(metrics: list[Metric], run_id: str = run_id) -> None:
            client.log_batch(run_id, metrics=metrics)

        state, value = TrialState.COMPLETE, math.nan
        try:
            with _parallelism(n_jobs):
                value = _evaluate(trial, family, params, data, config, clock, log_metrics, n_jobs)
        except (optuna.TrialPruned, _Hopeless):
            state = TrialState.PRUNED
        except _OutOfBudget as exc:
            state = TrialState.PRUNED
            out_of_budget += 1
            trial.set_user_attr("pruned_by", f"budget: {exc}")
        except Exception as exc:
            state = TrialState.FAIL
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            client.set_tag(run_id, "error", f"{type(exc).__name__}: {exc}"[:5000])
        client.set_tag(run_id, "optuna.state", state.name)
        client.set_terminated(
            run_id,
            status=RunStatus.to_string(RunStatus.FAILED if state == TrialState.FAIL else RunStatus.FINISHED),
        )
        frozen = study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        counts[{"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed"}[state.name]] += 1
        if progress is not None:
            progress(_progress_line(study, frozen, handle, data.metric))
        if state != TrialState.PRUNED or "budget" not in str(frozen.user_attrs.get("pruned_by")):
            out_of_budget = 0
        if out_of_budget >= _MAX_OUT_OF_BUDGET:
            stopped_by = "timeout"
            break
    return WorkerReport(worker_index, stopped_by=stopped_by, elapsed_s=time.time() - began, **counts)


def _progress_line(study: optuna.Study, trial: FrozenTrial, handle: SweepHandle, metric: str) -> str:
    done = _counted(study) - len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    family = trial.user_attrs.get("family")
    pct = trial.user_attrs.get("sample_pct")
    if trial.state == TrialState.COMPLETE:
        outcome = f"{metric}={trial.value:.6g}"
    elif trial.state == TrialState.PRUNED:
        outcome = f"pruned ({trial.user_attrs.get('pruned_by', '')}; scored up to {pct or 0}%)"
    else:
        outcome = f"failed: {trial.user_attrs.get('error', '')}"
    try:
        best = study.best_trial
        best_text = f"best {best.user_attrs.get('family')} {metric}={best.value:.6g} (trial {best.number})"
    except ValueError:
        best_text = "no complete trial yet"
    elapsed = time.time() - handle.started
    budget = handle.deadline - handle.started
    return (
        f"trial {done}/{handle.n_trials} #{trial.number} {family}: {outcome}; {best_text}; "
        f"{elapsed:.0f}/{budget:.0f}s"
    )


def finish_sweep(df: pd.DataFrame, config: SweepConfig, handle: SweepHandle) -> SweepResult:
    """Rank the candidates, store the leaderboard on the parent run and close it.

    Fails (and marks the parent run failed) when no candidate completed. MLflow
    runs of trials whose worker was killed are marked KILLED.
    """
    _quiet_optuna()
    data = _prepare_data(df, config)
    study = _load_study(config, data, handle.study_name, 0)
    client = _client(config)
    trials = study.get_trials(deepcopy=False)
    try:
        for trial in trials:
            if (
                trial.state == TrialState.FAIL
                and trial.user_attrs.get("interrupted")
                and trial.user_attrs.get("run_id")
            ):
                client.set_terminated(
                    trial.user_attrs["run_id"], status=RunStatus.to_string(RunStatus.KILLED)
                )
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
        leaderboard = build_leaderboard(finished, data.metric, data.spec.greater_is_better)
        full = build_leaderboard(finished, data.metric, data.spec.greater_is_better, include_partial=True)
        failed = [t for t in finished if t.state == TrialState.FAIL and "error" in t.user_attrs]
        pruned = [t for t in finished if t.state == TrialState.PRUNED]
        if leaderboard.empty:
            errors = [t.user_attrs["error"] for t in failed]
            raise RuntimeError(
                f"all {len(finished)} trials of study {handle.study_name!r} failed or were pruned; "
                f"first error: {errors[0] if errors else 'none (the budget ran out first)'}"
            )
        best = leaderboard.iloc[0]
        table = full.assign(params=full["params"].map(lambda p: json.dumps(_json_value(p))))
        client.log_table(handle.parent_run_id, table, LEADERBOARD_ARTIFACT)
        key = _metric_key(data.metric)
        now = int(time.time() * 1000)
        best_metrics = [
            Metric(f"best_{key}", float(best["score"]), now, 0),
            Metric("n_trials_completed", float(len(leaderboard)), now, 0),
            Metric("n_trials_pruned", float(len(pruned)), now, 0),
            Metric("n_failed_trials", float(len(failed)), now, 0),
            Metric("elapsed_s", time.time() - handle.started, now, 0),
        ]
        if math.isfinite(float(best["holdout_score"])):
            best_metrics.append(Metric(f"best_holdout_{key}", float(best["holdout_score"]), now, 0))
        client.log_batch(
            handle.parent_run_id,
            metrics=best_metrics,
            tags=[
                RunTag("best_family", str(best["family"])),
                RunTag("best_run_id", str(best["run_id"])),
                RunTag("best_params", json.dumps(_json_value(best["params"]))),
            ],
        )
    except Exception:
        client.set_terminated(handle.parent_run_id, status=RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(handle.parent_run_id, status=RunStatus.to_string(RunStatus.FINISHED))
    return SweepResult(
        leaderboard=leaderboard,
        best_family=str(best["family"]),
        best_params=dict(best["params"]),
        best_score=float(best["score"]),
        best_holdout_score=float(best["holdout_score"]),
        metric=data.metric,
        greater_is_better=data.spec.greater_is_better,
        task=data.task,
        target=config.target,
        study_name=handle.study_name,
        parent_run_id=handle.parent_run_id,
        experiment_id=handle.experiment_id,
        feature_types=data.feature_types,
        n_failed_trials=len(failed),
        n_pruned_trials=len(pruned),
        elapsed_s=time.time() - handle.started,
    )


def run_sweep(
    df: pd.DataFrame,
    config: SweepConfig,
    *,
    progress: ProgressCallback | None = None,
) -> SweepResult:
    """Prepare, run one worker in this process, and finish: a whole sweep in one call.

    Each family's ``default_params`` run first, so even a sweep cut short by
    its budget has scored every family once at a known-good point before the
    seeded TPE sampler explores. The winner is not refitted here: call
    :func:`fit_pipeline` with ``best_family`` / ``best_params``.
    """
    handle = prepare_sweep(df, config)
    try:
        run_worker(df, config, handle, progress=progress)
        return finish_sweep(df, config, handle)
    except BaseException as exc:
        if not isinstance(exc, Exception) or not isinstance(exc, RuntimeError | ValueError):
            _client(config).set_terminated(handle.parent_run_id, status=RunStatus.to_string(RunStatus.KILLED))
        raise
    finally:
        if config.storage is None:
            _MEMORY.pop(handle.study_name, None)
