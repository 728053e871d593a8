"""IngestOperator: a file, URL or SQL query becomes a versioned, validated snapshot, and an Asset event.

All the work is :func:`airflow_mlops.datasets.ingest`; this operator only
resolves what Airflow knows: a connection id becomes a SQLAlchemy engine
(:class:`~airflow_mlops.hooks.SqlSourceHook`, disposed when the task ends), a
storage connection id becomes an ``ObjectStoragePath``, the dataset's
hand-written contract is looked up under ``include/contracts/``, and each
snapshot is announced as an event on the Asset ``mlops://datasets/<dataset>``
(through an ``AssetAlias``, because a static outlet cannot name a templated
dataset). Schedule a DAG on new data
with ``schedule=[dataset_asset("churn")]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, AssetAlias, BaseOperator, Context

from airflow_mlops.config import get_settings
from airflow_mlops.hooks import SqlSourceHook, apply_connections

#: Snapshots are emitted through this alias as events on :func:`dataset_asset`.
DATASETS_ALIAS = AssetAlias("mlops-datasets")
CONTRACTS_DIR_ENV = "MLOPS_CONTRACTS_DIR"


def dataset_asset(dataset: str) -> Asset:
    """The Asset that gets an event for every snapshot of ``dataset``: ``mlops://datasets/<dataset>``."""
    return Asset(f"mlops://datasets/{dataset}", group="mlops")


class IngestOperator(BaseOperator):
    """Snapshot ``source`` as ``dataset``; returns ``{"dataset", "version", "n_train", "n_holdout", ...}``.

    ``source`` is a path or URL, or a SQL query when ``conn_id`` names a
    database connection (or leave it empty and set ``table``).
    ``storage_conn_id`` reads an object-store URL with that connection's
    credentials. ``contract`` is a YAML path; by default
    ``<dir>/<dataset>.yaml`` is used when it exists in ``$MLOPS_CONTRACTS_DIR``
    or ``include/contracts`` (current directory, then next to the DAGs folder).
    The other arguments are those of :func:`airflow_mlops.datasets.ingest`.
    """

    template_fields: Sequence[str] = (
        "source",
        "dataset",
        "target",
        "conn_id",
        "table",
        "storage_conn_id",
        "time_column",
        "key",
        "format",
        "options",
        "policy",
        "checks",
        "contract",
        "holdout_fraction",
        "seed",
    )

    def __init__(
        self,
        *,
        dataset: str,
        target: str,
        source: str | None = None,
        conn_id: str | None = None,
        table: str | None = None,
        storage_conn_id: str | None = None,
        holdout_fraction: float | str = 0.2,
        time_column: str | None = None,
        seed: int | str = 0,
        key: str | Sequence[str] | None = None,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
        policy: str | None = None,
        checks: Mapping[str, str] | None = None,
        contract: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [DATASETS_ALIAS])
        super().__init__(**kwargs)
        self.source = source
        self.dataset = dataset
        self.target = target
        self.conn_id = conn_id
        self.table = table
        self.storage_conn_id = storage_conn_id
        self.holdout_fraction = holdout_fraction
        self.time_column = time_column
        self.seed = seed
        self.key = key
        self.format = format
        self.options = options
        self.policy = policy
        self.checks = checks
        self.contract = contract

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.datasets import find_contract, ingest

        apply_connections(self.log)
        settings = get_settings()
        settings.ensure_dirs()
        conn_id = _optional(self.conn_id)
        table = _optional(self.table)
        source: Any = _optional(self.source)
        storage_conn_id = _optional(self.storage_conn_id)
        if storage_conn_id and source:
            from airflow.sdk import ObjectStoragePath

            source = ObjectStoragePath(source, conn_id=storage_conn_id)
        dataset = str(self.dataset)
        contract = _optional(self.contract) or find_contract(dataset, contract_dirs())
        if contract:
            self.log.info("dataset %s: checking against contract %s", dataset, contract)
        with SqlSourceHook(conn_id).scoped_engine() if conn_id else nullcontext() as connection:
            snapshot = ingest(
                source,
                dataset=dataset,
                target=str(self.target),
                snapshots_dir=settings.snapshots_dir,
                holdout_fraction=_number(self.holdout_fraction, "holdout_fraction", float),
                seed=int(_number(self.seed, "seed", int)),
                time_column=_optional(self.time_column),
                key=_optional(self.key),
                format=_optional(self.format),
                options=_optional(self.options) or None,
                connection=connection,
                table=table,
                contract=contract,
                policy=_optional(self.policy),
                checks=_optional(self.checks) or None,
            )
        meta = snapshot.meta()
        result = {
            "dataset": snapshot.dataset,
            "version": snapshot.version,
            "n_train": snapshot.n_train,
            "n_holdout": snapshot.n_holdout,
            "n_quarantined": int(meta.get("n_quarantined", 0)),
            "task": meta.get("task"),
            "encoding": (meta.get("source_info") or {}).get("encoding"),
            "path": str(snapshot.path),
        }
        self.log.info(
            "dataset %s version %s: %d training rows, %d holdout rows, %d quarantined; issues: %s",
            snapshot.dataset,
            snapshot.version,
            snapshot.n_train,
            snapshot.n_holdout,
            result["n_quarantined"],
            meta.get("issues") or "none",
        )
        context["outlet_events"][DATASETS_ALIAS].add(
            dataset_asset(snapshot.dataset),
            extra={k: result[k] for k in ("dataset", "version", "n_train", "n_holdout", "n_quarantined")},
        )
        return result


def contract_dirs() -> list[Path]:
    """Where hand-written contracts are looked up, in order."""
    configured = os.environ.get(CONTRACTS_DIR_ENV, "")
    if configured.strip():
        return [Path(p) for p in configured.split(os.pathsep) if p.strip()]
    dirs = [Path.cwd() / "include" / "contracts"]
    dags_folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if dags_folder:
        dirs.append(Path(dags_folder).parent / "include" / "contracts")
    return dirs


def _optional(value: Any) -> Any:
    """Templated optional fields render None as None (native) or "None"/"" (text): all mean unset."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    return value


def _number(value: Any, name: str, kind: type) -> float:
    try:
        return float(kind(value))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
