"""The training chain and its trigger-form Params, shared by ``mlops_train`` and ``mlops_retrain``.

Both DAGs train the same way: ``prepare_sweep`` → ``sweep_worker`` (mapped,
``workers`` copies sharing one Optuna study) → ``sweep`` (the leaderboard) →
``register`` (the winner refit and registered). :func:`training_chain` adds
those four tasks to the DAG being defined, in a TaskGroup; :func:`sweep_params`
gives the Params that set the sweep's budget and :func:`param_templates` the
arguments that read them at run time, so a DAG writes neither twice::

    SWEEP = sweep_params(with_metric=True)
    with DAG("my_train", params={"source": Param(...), **SWEEP}):
        ingest = IngestOperator(task_id="ingest", ...)
        chain = training_chain(
            snapshot=ingest.output,
            target="churned",
            registered_model_name="churn",
            experiment_name="my-train",
            **param_templates(SWEEP),
        )
        DeployModelOperator(task_id="deploy", model=chain.register.output, snapshot=ingest.output, ...)

The group does not prefix its tasks' ids (``prefix_group_id=False``): they stay
``prepare_sweep``, ``sweep_worker``, ``sweep`` and ``register``, the ids XCom
readers (``ti.xcom_pull(task_ids="register")``, the demo, the tests) know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Param, TaskGroup

from airflow_mlops.operators.automl import (
    AutoMLSweepOperator,
    PrepareSweepOperator,
    RegisterModelOperator,
    SweepWorkerOperator,
)

if TYPE_CHECKING:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

#: Autopilot modes and metric names, spelt out so that parsing a DAG imports no ML library
#: (a unit test checks them against ``airflow_mlops.automl``).
MODES = ["quick", "auto", "comprehensive"]
CLASS_METRICS = ["AUC", "LogLoss", "Accuracy", "Balanced Accuracy", "MCC"]
REGRESSION_METRICS = ["RMSE", "MAE", "MAPE", "RMSLE", "Poisson Deviance", "Gamma Deviance", "R Squared"]
METRICS_HELP = f"{', '.join(CLASS_METRICS)} (classes); {', '.join(REGRESSION_METRICS)} (regression)"

#: Retries of a mapped sweep worker, and the pause before each (see :func:`training_chain`).
SWEEP_WORKER_RETRIES = 2
SWEEP_WORKER_RETRY_DELAY = timedelta(seconds=10)


def sweep_params(*, with_metric: bool = False) -> dict[str, Param]:
    """The sweep's Params: ``mode``, (``metric``,) ``n_trials``, ``timeout_s``, ``workers``, ``ensemble``, ``refit_share``.

    New Param objects on every call, so two DAGs never share one. ``with_metric``
    adds the metric to optimise (``mlops_retrain`` leaves it out: the sweep
    uses the task's default metric and the policy's metric judges).
    """
    params: dict[str, Param] = {
        "mode": Param(
            "quick",
            enum=list(MODES),
            description="Autopilot mode: quick (16 trials, 2 min), auto (64, 15 min), comprehensive (400, 1 h).",
        ),
    }
    if with_metric:
        # An enum renders as a dropdown in the trigger form; None is the task's default metric.
        params["metric"] = Param(
            None,
            type=["null", "string"],
            enum=[None, *CLASS_METRICS, *REGRESSION_METRICS],
            values_display={"None": "default for the task: AUC (binary), LogLoss (multiclass), RMSE"},
            description=f"Metric to optimise; empty: AUC (binary), LogLoss (multiclass), RMSE. One of {METRICS_HELP}.",
        )
    params["n_trials"] = Param(
        None,
        type=["null", "integer"],
        minimum=1,
        description="Optuna trials in total; empty: the mode's.",
    )
    params["timeout_s"] = Param(
        None,
        type=["null", "integer"],
        minimum=10,
        description="Hard wall-clock budget of the search in seconds; empty: the mode's.",
    )
    params["workers"] = Param(
        2,
        type="integer",
        minimum=1,
        maximum=32,
        description="Sweep workers (mapped tasks) sharing the study.",
    )
    params["ensemble"] = Param(
        True,
        type="boolean",
        description="After the search, blend the best candidates into one more leaderboard entry (a weighted "
        "ensemble, DataRobot's blender); it is registered when it ranks first.",
    )
    params["refit_share"] = Param(
        0.1,
        type="number",
        minimum=0,
        maximum=0.5,
        description="Share of the time budget kept for refitting the winner on all rows (0 to 0.5).",
    )
    return params


def param_templates(params: Mapping[str, object]) -> dict[str, str]:
    """``{name: "{{ params.<name> }}"}`` for each Param: operator arguments rendered from the run's Params."""
    return {name: f"{{{{ params.{name} }}}}" for name in params}


@dataclass(frozen=True)
class TrainingChain:
    """The tasks :func:`training_chain` added; ``register.output`` is the registered model for later tasks."""

    group: TaskGroup
    prepare: PrepareSweepOperator
    workers: MappedOperator
    sweep: AutoMLSweepOperator
    register: RegisterModelOperator


def training_chain(
    *,
    snapshot: Any,
    target: str,
    registered_model_name: str,
    experiment_name: str,
    exclude_columns: Sequence[str] | str = (),
    mode: str = "auto",
    metric: str | None = None,
    n_trials: int | str | None = None,
    timeout_s: float | str | None = None,
    workers: int | str = 1,
    ensemble: bool | str | None = None,
    refit_share: float | str | None = None,
    group_id: str = "training",
) -> TrainingChain:
    """Add ``prepare_sweep`` → ``sweep_worker`` (mapped) → ``sweep`` → ``register`` to the DAG being defined.

    ``snapshot`` is the :class:`~airflow_mlops.operators.IngestOperator`'s
    result (its ``.output``), which also makes the ingest task upstream of the
    chain. Every other argument may be a template; they are those of
    :class:`~airflow_mlops.operators.PrepareSweepOperator` and
    :class:`~airflow_mlops.operators.RegisterModelOperator`.
    """
    settings: dict[str, Any] = {
        "snapshot": snapshot,
        "target": target,
        "exclude_columns": exclude_columns,
        "experiment_name": experiment_name,
    }
    with TaskGroup(
        group_id=group_id,
        prefix_group_id=False,
        tooltip="Optuna sweep over scikit-learn families; the winner refit and registered in MLflow",
    ) as group:
        prepare = PrepareSweepOperator(
            task_id="prepare_sweep",
            **settings,
            mode=mode,
            metric=metric,
            n_trials=n_trials,
            timeout_s=timeout_s,
            workers=workers,
            ensemble=ensemble,
            refit_share=refit_share,
        )
        # An XComArg resolves to the upstream result at run time; the operators annotate that result.
        jobs: Any = prepare.output
        # A sweep worker lost with its host (a killed Celery worker, a preempted node) is retried:
        # the retry rejoins the same Optuna study, so finished trials are kept, not redone.
        mapped = SweepWorkerOperator.partial(
            task_id="sweep_worker", retries=SWEEP_WORKER_RETRIES, retry_delay=SWEEP_WORKER_RETRY_DELAY
        ).expand(job=jobs)
        sweep = AutoMLSweepOperator(task_id="sweep", **settings, prepared=jobs)
        mapped >> sweep
        leaderboard: Any = sweep.output
        register = RegisterModelOperator(
            task_id="register",
            **settings,
            sweep=leaderboard,
            registered_model_name=registered_model_name,
        )
    return TrainingChain(group=group, prepare=prepare, workers=mapped, sweep=sweep, register=register)
