"""AutoML operators: prepare a sweep, run its workers (mapped), collect it, register the winner.

In a DAG, the sweep is three tasks so that N workers share one Optuna study::

    prepare = PrepareSweepOperator(task_id="prepare_sweep", snapshot=..., target=..., workers=2)
    workers = SweepWorkerOperator.partial(task_id="sweep_worker").expand(job=prepare.output)
    sweep = AutoMLSweepOperator(task_id="sweep", snapshot=..., target=..., prepared=prepare.output)
    workers >> sweep

``AutoMLSweepOperator`` without ``prepared`` runs a whole sweep in its own
task (one worker), which is the simplest way to reuse it. Every operator only
stores its arguments in ``__init__``; the work happens in ``execute`` and the
XComs stay small (the leaderboard's top rows, not the models).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.config import get_settings
from airflow_mlops.hooks import apply_connections

#: Leaderboard rows kept in the sweep's XCom (the full table is an MLflow artifact).
TOP_ROWS = 5
_SUMMARY_COLUMNS = (
    "rank",
    "family",
    "metric",
    "score",
    "holdout_score",
    "sample_pct",
    "trial_number",
    "run_id",
)


def _feature_frame(snapshot: dict[str, Any], exclude: Sequence[str], part: str = "train") -> Any:
    from airflow_mlops.datasets import load_snapshot

    settings = get_settings()
    snap = load_snapshot(settings.snapshots_dir, snapshot["dataset"], snapshot["version"])
    frame = snap.train_frame() if part == "train" else snap.holdout_frame()
    return frame.drop(columns=[c for c in exclude if c in frame.columns])


def _log_lineage(snapshot: dict[str, Any], run_id: str) -> None:
    """Record the snapshot as the MLflow run's dataset input: every run shows its data version."""
    from airflow_mlops.datasets import load_snapshot, log_snapshot_input

    settings = get_settings()
    snap = load_snapshot(settings.snapshots_dir, snapshot["dataset"], snapshot["version"])
    log_snapshot_input(snap, run_id=run_id, tracking_uri=settings.mlflow_tracking_uri)


def _record_exclusions(run_id: str, exclude: Sequence[str] | str) -> None:
    import json

    from mlflow import MlflowClient

    columns = [exclude] if isinstance(exclude, str) else list(exclude)
    client = MlflowClient(tracking_uri=get_settings().mlflow_tracking_uri)
    from airflow_mlops.training import EXCLUDED_COLUMNS_TAG

    client.set_tag(run_id, EXCLUDED_COLUMNS_TAG, json.dumps(columns))


def _check_snapshot(snapshot: Any) -> dict[str, Any]:
    if not isinstance(snapshot, dict) or not {"dataset", "version"} <= set(snapshot):
        raise TypeError(f"snapshot must be the IngestOperator's result (a dict), got {snapshot!r}")
    return snapshot


def _optional_int(value: Any, name: str) -> int | None:
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be an integer or empty") from None


def _optional_float(value: Any, name: str, what: str = "a number of seconds") -> float | None:
    if value in (None, "", "None"):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be {what} or empty") from None


def _optional_bool(value: Any, name: str) -> bool | None:
    """A Param's boolean, also as a template renders it without native objects (``"True"``)."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name}={value!r} must be true or false, or empty for the default")


def _config_dict(config: Any) -> dict[str, Any]:
    """A SweepConfig as JSON-safe keyword arguments (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


class _SweepSettings(BaseOperator):
    """The settings shared by the sweep operators, all templated."""

    template_fields: Sequence[str] = (
        "snapshot",
        "target",
        "experiment_name",
        "exclude_columns",
        "mode",
        "metric",
        "target_type",
        "n_trials",
        "timeout_s",
        "families",
        "storage",
        "seed",
        "ensemble",
        "refit_share",
    )

    def __init__(
        self,
        *,
        snapshot: dict[str, Any] | str,
        target: str,
        experiment_name: str,
        exclude_columns: Sequence[str] | str = (),
        mode: str = "auto",
        metric: str | None = None,
        target_type: str | None = None,
        n_trials: int | str | None = None,
        timeout_s: float | str | None = None,
        families: Sequence[str] | str | None = None,
        storage: str | None = None,
        cv_folds: int = 3,
        seed: int | str = 0,
        ensemble: bool | str | None = None,
        refit_share: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.target = target
        self.experiment_name = experiment_name
        self.exclude_columns = exclude_columns
        self.mode = mode
        self.metric = metric
        self.target_type = target_type
        self.n_trials = n_trials
        self.timeout_s = timeout_s
        self.families = families
        self.storage = storage
        self.cv_folds = cv_folds
        self.seed = seed
        self.ensemble = ensemble
        self.refit_share = refit_share

    def _config(self, context: Context, *, persistent: bool) -> Any:
        from airflow_mlops.automl import SweepConfig, default_storage

        snapshot = _check_snapshot(self.snapshot)
        settings = get_settings()
        families = [self.families] if isinstance(self.families, str) else self.families
        # Left empty, the ensemble and the refit's share keep SweepConfig's defaults.
        optional: dict[str, Any] = {}
        ensemble = _optional_bool(self.ensemble, "ensemble")
        if ensemble is not None:
            optional["ensemble"] = ensemble
        refit_share = _optional_float(self.refit_share, "refit_share", "a fraction of the time budget")
        if refit_share is not None:
            optional["refit_share"] = refit_share
        return SweepConfig(
            target=self.target,
            task=self.target_type or None,  # type: ignore[arg-type]
            metric=self.metric or None,
            families=list(families) if families else None,
            mode=self.mode or "auto",
            n_trials=_optional_int(self.n_trials, "n_trials"),
            timeout_s=_optional_float(self.timeout_s, "timeout_s"),
            cv_folds=self.cv_folds,
            seed=int(self.seed),
            study_name=f"{snapshot['dataset']}-{snapshot['version']}-{context['run_id']}",
            storage=(self.storage or default_storage(settings.home)) if persistent else None,
            experiment_name=self.experiment_name,
            tracking_uri=settings.mlflow_tracking_uri,
            exclude=(),  # excluded columns are dropped from the frame before the sweep sees it
            **optional,
        )

    def _frame(self) -> Any:
        exclude = [self.exclude_columns] if isinstance(self.exclude_columns, str) else self.exclude_columns
        return _feature_frame(_check_snapshot(self.snapshot), list(exclude))


class PrepareSweepOperator(_SweepSettings):
    """Create (or reopen, on a re-run) the sweep's study and MLflow parent run; fix the deadline.

    Returns one job per worker, to ``.expand`` a :class:`SweepWorkerOperator` over.
    Re-running a DAG run resumes its study: trials that a killed worker left
    running are failed and their parameters queued again; completed ones are kept.
    """

    template_fields: Sequence[str] = (*_SweepSettings.template_fields, "workers")

    def __init__(self, *, workers: int | str = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workers = workers

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_mlops.automl import prepare_sweep

        apply_connections(self.log)
        workers = _optional_int(self.workers, "workers") or 1
        if workers < 1:
            raise ValueError(f"workers={self.workers!r} must be at least 1")
        config = self._config(context, persistent=True)
        handle = prepare_sweep(self._frame(), config)
        self.log.info(
            "study %s in %s: %d trials, %.0fs budget, %d workers",
            handle.study_name,
            config.storage,
            handle.n_trials,
            config.time_budget_s,
            workers,
        )
        job = {
            "snapshot": self.snapshot,
            "exclude_columns": list(
                [self.exclude_columns] if isinstance(self.exclude_columns, str) else self.exclude_columns
            ),
            "config": _config_dict(config),
            "handle": handle.to_dict(),
            "n_workers": workers,
        }
        return [{**job, "worker_index": index} for index in range(workers)]


class SweepWorkerOperator(BaseOperator):
    """One worker of a prepared sweep: runs candidates until the study has enough or time is up.

    Map it over :class:`PrepareSweepOperator`'s result. Logs each trial as it
    ends (trials done, this trial's outcome, best so far).
    """

    template_fields: Sequence[str] = ("job",)

    def __init__(self, *, job: dict[str, Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.automl import SweepConfig, SweepHandle, run_worker

        apply_connections(self.log)
        if not isinstance(self.job, dict):
            raise TypeError(f"job must be one item of PrepareSweepOperator's result, got {self.job!r}")
        config = SweepConfig(**self.job["config"])
        frame = _feature_frame(_check_snapshot(self.job["snapshot"]), self.job["exclude_columns"])
        report = run_worker(
            frame,
            config,
            SweepHandle.from_dict(self.job["handle"]),
            worker_index=int(self.job["worker_index"]),
            n_workers=int(self.job["n_workers"]),
            progress=self.log.info,
        )
        self.log.info("worker %d done: %s", report.worker_index, report.to_dict())
        return report.to_dict()


class AutoMLSweepOperator(_SweepSettings):
    """The sweep's result: the leaderboard, stored in MLflow, and the winner's settings for XCom.

    With ``prepared`` (the result of :class:`PrepareSweepOperator`, whose
    mapped workers ran before this task), it ranks the shared study's trials
    and closes the sweep. Without, it runs a whole sweep here with one worker.
    Returns the best family and parameters, the metric, the MLflow parent run
    id, the study and the leaderboard's top rows (``rank``, ``family``,
    ``metric``, ``score``...).
    """

    template_fields: Sequence[str] = (*_SweepSettings.template_fields, "prepared")

    def __init__(self, *, prepared: list[dict[str, Any]] | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prepared = prepared

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.automl import SweepConfig, SweepHandle, finish_sweep, run_sweep

        apply_connections(self.log)
        if self.prepared:
            if not isinstance(self.prepared, list) or not self.prepared:
                raise TypeError(f"prepared must be PrepareSweepOperator's result, got {self.prepared!r}")
            job = self.prepared[0]
            config = SweepConfig(**job["config"])
            frame = _feature_frame(_check_snapshot(job["snapshot"]), job["exclude_columns"])
            result = finish_sweep(frame, config, SweepHandle.from_dict(job["handle"]))
        else:
            config = self._config(context, persistent=self.storage is not None)
            result = run_sweep(self._frame(), config, progress=self.log.info)
        source: dict[str, Any] = (
            self.prepared[0]
            if self.prepared
            else {"snapshot": self.snapshot, "exclude_columns": self.exclude_columns}
        )
        _log_lineage(_check_snapshot(source["snapshot"]), result.parent_run_id)
        _record_exclusions(result.parent_run_id, source["exclude_columns"])
        records = result.leaderboard_records()
        top = [{key: row.get(key) for key in _SUMMARY_COLUMNS} for row in records[:TOP_ROWS]]
        self.log.info(
            "best of %d complete trials (%d pruned, %d failed): %s %s=%.6g (holdout %.6g)",
            len(records),
            result.n_pruned_trials,
            result.n_failed_trials,
            result.best_family,
            result.metric,
            result.best_score,
            result.best_holdout_score,
        )
        return {
            "best_family": result.best_family,
            "best_params": records[0]["params"],
            "metric": result.metric,
            "task": result.task,
            "score": records[0]["score"],
            "holdout_score": records[0]["holdout_score"],
            "parent_run_id": result.parent_run_id,
            "study_name": result.study_name,
            "n_complete": len(records),
            "n_pruned": result.n_pruned_trials,
            "n_failed": result.n_failed_trials,
            "leaderboard": top,
        }


class RegisterModelOperator(BaseOperator):
    """Refit the sweep's best model on all training rows and register it in MLflow.

    The version gets a signature and input example, permutation feature
    importance (on the snapshot's holdout rows, in the sweep's metric) and
    lineage tags: dataset and version, sweep id (the Optuna study), sweep
    parent run, metric. Returns ``{"model_id": "<name>/<version>", ...}`` for the deploy step.
    """

    template_fields: Sequence[str] = (
        "snapshot",
        "sweep",
        "registered_model_name",
        "target",
        "experiment_name",
        "exclude_columns",
        "seed",
    )

    def __init__(
        self,
        *,
        snapshot: dict[str, Any] | str,
        sweep: dict[str, Any] | str,
        registered_model_name: str,
        target: str,
        experiment_name: str,
        exclude_columns: Sequence[str] | str = (),
        seed: int | str = 0,
        ensemble: bool | str | None = None,
        refit_share: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.sweep = sweep
        self.registered_model_name = registered_model_name
        self.target = target
        self.experiment_name = experiment_name
        self.exclude_columns = exclude_columns
        self.seed = seed

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.training import RefitSpec, refit_and_register

        apply_connections(self.log)
        snapshot = _check_snapshot(self.snapshot)
        if not isinstance(self.sweep, dict):
            raise TypeError(f"sweep must be the AutoMLSweepOperator's result (a dict), got {self.sweep!r}")
        sweep = self.sweep
        exclude = (
            [self.exclude_columns] if isinstance(self.exclude_columns, str) else list(self.exclude_columns)
        )
        metrics = {f"cv_{sweep['metric']}": float(sweep["score"])}
        if sweep.get("holdout_score") is not None:
            metrics[f"sweep_holdout_{sweep['metric']}"] = float(sweep["holdout_score"])
        refit = refit_and_register(
            snapshot,
            RefitSpec(
                family=sweep["best_family"],
                params=sweep["best_params"],
                task=sweep["task"],
                metric=sweep["metric"],
                target=self.target,
                seed=int(self.seed),
                exclude_columns=tuple(exclude),
            ),
            registered_model_name=self.registered_model_name,
            experiment_name=self.experiment_name,
            tags={
                "sweep_id": str(sweep.get("study_name", "")),
                "sweep_parent_run_id": str(sweep["parent_run_id"]),
                "airflow_run_id": str(context["run_id"]),
            },
            metrics=metrics,
            # The deploy step builds the baseline from the same snapshot, with the same function.
            with_baseline=False,
        )
        model_id = refit.model_id
        return {"model_id": model_id, "family": sweep["best_family"], "cv_score": sweep["score"]}
