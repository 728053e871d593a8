"""AutoMLSweepOperator and RegisterModelOperator: the Optuna sweep and the winner's registration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.config import get_settings


def _feature_frame(snapshot: dict[str, Any], exclude: Sequence[str], part: str = "train") -> Any:
    from airflow_mlops.datasets import load_snapshot

    settings = get_settings()
    snap = load_snapshot(settings.snapshots_dir, snapshot["dataset"], snapshot["version"])
    frame = snap.train_frame() if part == "train" else snap.holdout_frame()
    return frame.drop(columns=[c for c in exclude if c in frame.columns])


class AutoMLSweepOperator(BaseOperator):
    """Run an Optuna sweep over model families on a snapshot's training part.

    Returns a small summary for XCom: the best family and parameters, the metric,
    the MLflow parent run id and the leaderboard's top rows.
    """

    template_fields: Sequence[str] = (
        "snapshot",
        "target",
        "experiment_name",
        "exclude_columns",
        "n_trials",
        "timeout_s",
        "families",
    )

    def __init__(
        self,
        *,
        snapshot: dict[str, Any] | str,
        target: str,
        experiment_name: str,
        exclude_columns: Sequence[str] = (),
        n_trials: int | str = 10,
        timeout_s: float | str = 300.0,
        families: Sequence[str] | None = None,
        cv_folds: int = 3,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.target = target
        self.experiment_name = experiment_name
        self.exclude_columns = exclude_columns
        self.n_trials = n_trials
        self.timeout_s = timeout_s
        self.families = families
        self.cv_folds = cv_folds
        self.seed = seed

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.automl import SweepConfig, run_sweep

        if not isinstance(self.snapshot, dict):
            raise TypeError(f"snapshot must be the IngestOperator's result (a dict), got {self.snapshot!r}")
        settings = get_settings()
        frame = _feature_frame(self.snapshot, list(self.exclude_columns))
        config = SweepConfig(
            target=self.target,
            families=list(self.families) if self.families else None,
            n_trials=int(self.n_trials),
            timeout_s=float(self.timeout_s),
            cv_folds=self.cv_folds,
            seed=self.seed,
            study_name=f"{self.snapshot['dataset']}-{self.snapshot['version']}-{context['run_id']}",
            experiment_name=self.experiment_name,
            tracking_uri=settings.mlflow_tracking_uri,
        )
        result = run_sweep(frame, config, progress=self.log.info)
        top = result.leaderboard_records()[:5]
        self.log.info("best: %s %s=%.4f", result.best_family, result.metric, top[0]["score"])
        return {
            "best_family": result.best_family,
            "best_params": result.best_params,
            "metric": result.metric,
            "task": result.task,
            "score": top[0]["score"],
            "parent_run_id": result.parent_run_id,
            "study_name": result.study_name,
            "leaderboard": top,
        }


class RegisterModelOperator(BaseOperator):
    """Refit the sweep's best model on all training rows and register it in MLflow.

    Returns ``{"model_id": "<name>/<version>", ...}`` for the deploy step.
    """

    template_fields: Sequence[str] = (
        "snapshot",
        "sweep",
        "registered_model_name",
        "target",
        "exclude_columns",
    )

    def __init__(
        self,
        *,
        snapshot: dict[str, Any] | str,
        sweep: dict[str, Any] | str,
        registered_model_name: str,
        target: str,
        experiment_name: str,
        exclude_columns: Sequence[str] = (),
        seed: int = 0,
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
        from airflow_mlops.automl import fit_pipeline
        from airflow_mlops.registry import register_model

        if not isinstance(self.snapshot, dict) or not isinstance(self.sweep, dict):
            raise TypeError(
                "snapshot and sweep must be the results of IngestOperator and AutoMLSweepOperator"
            )
        settings = get_settings()
        train = _feature_frame(self.snapshot, list(self.exclude_columns))
        pipeline = fit_pipeline(
            train,
            self.target,
            self.sweep["best_family"],
            self.sweep["best_params"],
            self.sweep["task"],
            self.seed,
        )
        registered = register_model(
            pipeline,
            name=self.registered_model_name,
            train_df=train,
            target=self.target,
            tracking_uri=settings.mlflow_tracking_uri,
            registry_uri=settings.mlflow_registry_uri,
            experiment_name=self.experiment_name,
            tags={
                "family": self.sweep["best_family"],
                "dataset": self.snapshot["dataset"],
                "dataset_version": self.snapshot["version"],
                "sweep_parent_run_id": str(self.sweep["parent_run_id"]),
                "metric": self.sweep["metric"],
                "airflow_run_id": str(context["run_id"]),
            },
            metrics={f"cv_{self.sweep['metric']}": float(self.sweep["score"])},
        )
        model_id = f"{registered.name}/{registered.version}"
        self.log.info("registered %s from run %s", model_id, registered.run_id)
        return {"model_id": model_id, "family": self.sweep["best_family"], "cv_score": self.sweep["score"]}
