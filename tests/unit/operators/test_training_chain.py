"""The training chain both training DAGs use: one group, the task ids readers know, the shared Params."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_mlops.automl import SweepConfig
from airflow_mlops.automl.modes import AUTOPILOT_MODES
from airflow_mlops.automl.task import METRICS
from airflow_mlops.operators import (
    IngestOperator,
    PrepareSweepOperator,
    RegisterModelOperator,
    TrainingChain,
    param_templates,
    sweep_params,
    training_chain,
)
from airflow_mlops.operators.training_chain import METRICS_HELP


def _dag_with_chain(*, with_metric: bool) -> tuple[DAG, TrainingChain]:
    params = sweep_params(with_metric=with_metric)
    with DAG("chain", schedule=None, start_date=datetime(2024, 1, 1), params=params) as dag:
        ingest = IngestOperator(task_id="ingest", source="s.csv", dataset="d", target="y")
        chain = training_chain(
            snapshot=ingest.output,
            target="y",
            exclude_columns=["id"],
            experiment_name="e",
            registered_model_name="m",
            **param_templates(params),
        )
    return dag, chain


def test_the_chain_keeps_the_task_ids_readers_know_in_one_group() -> None:
    dag, chain = _dag_with_chain(with_metric=True)
    chain_ids = {"prepare_sweep", "sweep_worker", "sweep", "register"}
    assert set(dag.task_ids) == {"ingest", *chain_ids}
    assert chain.group.group_id == "training"
    assert {task.task_id for task in chain.group.iter_tasks()} == chain_ids
    upstream = {task_id: dag.get_task(task_id).upstream_task_ids for task_id in chain_ids}
    assert upstream == {
        "prepare_sweep": {"ingest"},
        "sweep_worker": {"prepare_sweep"},
        "sweep": {"ingest", "prepare_sweep", "sweep_worker"},
        "register": {"ingest", "sweep"},
    }
    assert isinstance(chain.register, RegisterModelOperator) and chain.register.registered_model_name == "m"


def test_the_sweep_reads_the_shared_params_and_a_dag_without_metric_leaves_it_unset() -> None:
    _, chain = _dag_with_chain(with_metric=True)
    prepare = chain.prepare
    assert (prepare.mode, prepare.metric, prepare.n_trials, prepare.timeout_s, prepare.workers) == (
        "{{ params.mode }}",
        "{{ params.metric }}",
        "{{ params.n_trials }}",
        "{{ params.timeout_s }}",
        "{{ params.workers }}",
    )
    assert (prepare.ensemble, prepare.refit_share) == ("{{ params.ensemble }}", "{{ params.refit_share }}")
    assert (prepare.exclude_columns, chain.sweep.experiment_name) == (["id"], "e")
    _, without = _dag_with_chain(with_metric=False)
    assert without.prepare.metric is None and without.prepare.mode == "{{ params.mode }}"


def test_sweep_params_are_new_objects_in_the_form_order() -> None:
    tail = ["n_trials", "timeout_s", "workers", "ensemble", "refit_share"]
    assert list(sweep_params()) == ["mode", *tail]
    assert list(sweep_params(with_metric=True)) == ["mode", "metric", *tail]
    assert sweep_params()["workers"] is not sweep_params()["workers"]
    assert sweep_params()["workers"].value == 2


def test_the_spelt_out_modes_and_metrics_match_automl() -> None:
    mode = sweep_params()["mode"]
    assert mode.schema["enum"] == list(AUTOPILOT_MODES)
    for name, spec in AUTOPILOT_MODES.items():
        budget = f"{spec.timeout_s / 3600:g} h" if spec.timeout_s >= 3600 else f"{spec.timeout_s / 60:g} min"
        assert re.search(rf"{name} \({spec.n_trials}( trials)?, {budget}\)", mode.description or ""), name
    named = {m.strip() for m in re.split(r"[,;]", re.sub(r"\([^)]*\)", "", METRICS_HELP))}
    assert named == set(METRICS)


def test_ensemble_and_refit_share_reach_the_sweep_config_as_a_form_or_a_template_gives_them() -> None:
    """Native Params (the form) or rendered strings (DAGs without native rendering); empty keeps the default."""
    snapshot = {"dataset": "d", "version": "v1"}
    context: Any = {"run_id": "r"}

    def config(**kwargs: Any) -> SweepConfig:
        op = PrepareSweepOperator(
            task_id=f"p{len(kwargs)}", snapshot=snapshot, target="y", experiment_name="e", **kwargs
        )
        return op._config(context, persistent=False)  # type: ignore[no-any-return]

    default = SweepConfig(target="y")
    assert (config().ensemble, config().refit_share) == (default.ensemble, default.refit_share)
    assert (config(ensemble=False, refit_share=0.25).ensemble, config(refit_share=0.25).refit_share) == (
        False,
        0.25,
    )
    assert (config(ensemble="False").ensemble, config(ensemble="true").ensemble) == (False, True)
    assert config(ensemble="None", refit_share="").refit_share == default.refit_share
    with pytest.raises(ValueError, match=r"ensemble='maybe' must be true or false"):
        config(ensemble="maybe")
    with pytest.raises(ValueError, match=r"refit_share='lots' must be a fraction of the time budget"):
        config(refit_share="lots")
    with pytest.raises(
        ValueError, match=r"refit_share=0.9 must be a fraction of the time budget in \[0, 0.5\]"
    ):
        config(refit_share=0.9)
    params = sweep_params()
    assert (params["ensemble"].value, params["refit_share"].value) == (default.ensemble, default.refit_share)
