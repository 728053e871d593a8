"""Airflow operators: thin wrappers that wire the core packages into DAGs.

Reuse them in your own DAGs: ``from airflow_mlops.operators import AutoMLSweepOperator``.
"""

from __future__ import annotations

from airflow_mlops.operators.automl import (
    AutoMLSweepOperator,
    PrepareSweepOperator,
    RegisterModelOperator,
    SweepWorkerOperator,
)
from airflow_mlops.operators.deployments import DeployModelOperator, ReplaceModelOperator
from airflow_mlops.operators.ingest import DATASETS_ALIAS, IngestOperator, dataset_asset
from airflow_mlops.operators.monitoring import (
    RETRAIN_REQUESTS,
    RETRAIN_REQUESTS_ALIAS,
    MonitorDeploymentOperator,
    SubmitActualsOperator,
)
from airflow_mlops.operators.refresh import RetrainingDispatchOperator
from airflow_mlops.operators.retraining import (
    JudgeChallengerOperator,
    RetrainingDataOperator,
    record_retrain_failure,
)
from airflow_mlops.operators.training_chain import (
    TrainingChain,
    param_templates,
    sweep_params,
    training_chain,
)

__all__ = [
    "DATASETS_ALIAS",
    "RETRAIN_REQUESTS",
    "RETRAIN_REQUESTS_ALIAS",
    "AutoMLSweepOperator",
    "DeployModelOperator",
    "IngestOperator",
    "JudgeChallengerOperator",
    "MonitorDeploymentOperator",
    "PrepareSweepOperator",
    "RegisterModelOperator",
    "ReplaceModelOperator",
    "RetrainingDataOperator",
    "RetrainingDispatchOperator",
    "SubmitActualsOperator",
    "SweepWorkerOperator",
    "TrainingChain",
    "dataset_asset",
    "param_templates",
    "record_retrain_failure",
    "sweep_params",
    "training_chain",
]
