"""Lineage: record which snapshot a training run used, as an MLflow dataset input.

MLflow shows a run's dataset inputs (name, digest, source, schema, profile) on
the run page and lets runs be searched by them, so logging the snapshot there
answers "which data was this model trained on?" without leaving MLflow. The
digest is the snapshot version (itself a content hash), the source is the
snapshot directory, the schema is MLflow's column spec of the training rows,
and the profile is this package's profile (row counts, missing rates,
quantiles, top categories), so nothing needs to be re-read to compare versions.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from airflow_mlops.datasets.snapshot import TRAIN_FILE, Snapshot
from airflow_mlops.storage import parquet_file, read_parquet_schema

#: The MLflow tag that says what a dataset input was used for ("training", "evaluation", ...).
CONTEXT_TAG = "mlflow.data.context"
VERSION_TAG = "mlops.dataset.version"
_SCHEMA_ROWS = 100


def log_snapshot_input(
    snapshot: Snapshot, *, run_id: str, tracking_uri: str, context: str = "training"
) -> None:
    """Log ``snapshot`` as a dataset input of MLflow run ``run_id`` (idempotent per run and context)."""
    if not isinstance(context, str) or not context.strip():
        raise ValueError(f"context must be a non-empty string such as 'training', got {context!r}")
    from mlflow import MlflowClient
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import Dataset, DatasetInput, InputTag

    head = next(parquet_file(snapshot.path / TRAIN_FILE).iter_batches(batch_size=_SCHEMA_ROWS), None)
    frame = (
        head.to_pandas()
        if head is not None
        else read_parquet_schema(snapshot.path / TRAIN_FILE).empty_table().to_pandas()
    )
    with warnings.catch_warnings():
        # MLflow's hint that integer columns cannot hold missing values is about model
        # signatures; a dataset schema is descriptive.
        warnings.simplefilter("ignore", UserWarning)
        described = from_pandas(
            frame,
            source=str(snapshot.path),
            name=snapshot.dataset,
            digest=snapshot.version,
            targets=snapshot.target,
        )._to_mlflow_entity()
    profile: dict[str, Any] = snapshot.profile()
    entity = Dataset(
        name=snapshot.dataset,
        digest=snapshot.version,
        source_type=described.source_type,
        source=described.source,
        schema=described.schema,
        profile=json.dumps(profile, default=str),
    )
    client = MlflowClient(tracking_uri=tracking_uri)
    client.log_inputs(
        run_id,
        datasets=[
            DatasetInput(
                dataset=entity,
                tags=[
                    InputTag(key=CONTEXT_TAG, value=context),
                    InputTag(key=VERSION_TAG, value=snapshot.version),
                ],
            )
        ],
    )
