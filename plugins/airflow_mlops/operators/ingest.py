"""IngestOperator: a source file becomes a versioned, validated Parquet snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_mlops.config import get_settings


class IngestOperator(BaseOperator):
    """Snapshot ``source`` as dataset ``dataset``; returns ``{"dataset", "version", "n_train", "n_holdout"}``."""

    template_fields: Sequence[str] = ("source", "dataset", "target")

    def __init__(
        self,
        *,
        source: str,
        dataset: str,
        target: str,
        holdout_fraction: float = 0.2,
        time_column: str | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.dataset = dataset
        self.target = target
        self.holdout_fraction = holdout_fraction
        self.time_column = time_column
        self.seed = seed

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.datasets import ingest_csv

        settings = get_settings()
        settings.ensure_dirs()
        snapshot = ingest_csv(
            self.source,
            dataset=self.dataset,
            target=self.target,
            snapshots_dir=settings.snapshots_dir,
            holdout_fraction=self.holdout_fraction,
            seed=self.seed,
            time_column=self.time_column,
        )
        self.log.info(
            "dataset %s version %s: %d training rows, %d holdout rows",
            snapshot.dataset,
            snapshot.version,
            snapshot.n_train,
            snapshot.n_holdout,
        )
        return {
            "dataset": snapshot.dataset,
            "version": snapshot.version,
            "n_train": snapshot.n_train,
            "n_holdout": snapshot.n_holdout,
        }
