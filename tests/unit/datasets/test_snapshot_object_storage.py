"""Snapshots on object storage: an S3 server on loopback (moto), reached through s3fs.

With ``MLOPS_SNAPSHOTS_DIR=s3://<bucket>/snapshots`` a snapshot must be the
same snapshot as on a local disk (same version, same rows), its pointers
(``LATEST``, the inferred contract, the source index) must work without
renames or links, and a failed ingestion must leave the bucket as it was.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from helpers.s3_server import list_keys
from upath import UPath

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import (
    DataValidationError,
    Snapshot,
    SnapshotNotFoundError,
    ingest,
    list_snapshot_versions,
    load_snapshot,
    make_churn,
)


@pytest.fixture
def s3_snapshots(s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> UPath:
    monkeypatch.setenv("MLOPS_SNAPSHOTS_DIR", f"s3://{s3_bucket}/snapshots")
    # Staging for a remote root is a local temporary directory: give it one this test can inspect.
    staging_tmp = tmp_path / "system-tmp"
    staging_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging_tmp))
    root = get_settings().snapshots_dir
    assert isinstance(root, UPath) and root.protocol == "s3"
    return root


def _ingest(source: Path, snapshots_dir: Path | UPath) -> Snapshot:
    return ingest(
        source, dataset="churn", target="churned", snapshots_dir=snapshots_dir, time_column="event_time"
    )


def test_a_snapshot_on_s3_equals_the_local_one_and_loads_back(
    churn_csv: Path, tmp_path: Path, s3_snapshots: UPath, s3_bucket: str, s3_endpoint: str
) -> None:
    local = ingest(
        churn_csv,
        dataset="churn",
        target="churned",
        snapshots_dir=tmp_path / "local",
        time_column="event_time",
    )
    remote = ingest(
        churn_csv, dataset="churn", target="churned", snapshots_dir=s3_snapshots, time_column="event_time"
    )

    assert remote.version == local.version
    assert (
        isinstance(remote.path, UPath)
        and str(remote.path) == f"s3://{s3_bucket}/snapshots/churn/{local.version}"
    )
    # What is really on the server: the finished files, the pointers, no staging or temporary objects.
    version = local.version
    assert list_keys(s3_endpoint, s3_bucket) == sorted(
        [
            "snapshots/churn/LATEST",
            "snapshots/churn/contract.yaml",
            *(
                f"snapshots/churn/{version}/{name}"
                for name in ("contract.yaml", "holdout.parquet", "meta.json", "profile.json", "train.parquet")
            ),
            *(f"snapshots/churn/.sources/{key}" for key in _source_keys(tmp_path / "local")),
        ]
    )
    assert not list(Path(tempfile.gettempdir()).iterdir())  # the local staging directory is gone

    loaded = load_snapshot(get_settings().snapshots_dir, "churn")  # through LATEST
    assert loaded.version == version
    pd.testing.assert_frame_equal(loaded.train_frame(), local.train_frame())
    pd.testing.assert_frame_equal(loaded.holdout_frame(), local.holdout_frame())
    assert loaded.profile() == local.profile()
    assert loaded.contract().to_dict() == local.contract().to_dict()
    assert loaded.quarantine_frame().empty
    varying = {"created_at", "duration_s"}
    assert {k: v for k, v in loaded.meta().items() if k not in varying} == {
        k: v for k, v in local.meta().items() if k not in varying
    }
    assert list_snapshot_versions(s3_snapshots, "churn") == [version]


def _source_keys(local_root: Path) -> list[str]:
    return sorted(p.name for p in (local_root / "churn" / ".sources").iterdir())


def test_pointers_on_s3_reingest_new_versions_and_failures(
    tmp_path: Path, s3_snapshots: UPath, s3_bucket: str, s3_endpoint: str
) -> None:
    first_csv = tmp_path / "first.csv"
    make_churn(400, seed=1).to_csv(first_csv, index=False)
    first = _ingest(first_csv, s3_snapshots)
    keys = list_keys(s3_endpoint, s3_bucket)

    # The same bytes again: the source index on S3 answers before parsing; nothing is written.
    again = _ingest(first_csv, s3_snapshots)
    assert again.version == first.version
    assert list_keys(s3_endpoint, s3_bucket) == keys

    # New data: a new version, LATEST moves, the old version still loads.
    second_csv = tmp_path / "second.csv"
    make_churn(500, seed=2).to_csv(second_csv, index=False)
    second = _ingest(second_csv, s3_snapshots)
    assert second.version != first.version
    assert (s3_snapshots / "churn" / "LATEST").read_text().strip() == second.version
    assert set(list_snapshot_versions(s3_snapshots, "churn")) == {first.version, second.version}
    assert load_snapshot(s3_snapshots, "churn").version == second.version
    assert len(load_snapshot(s3_snapshots, "churn", first.version).train_frame()) == first.n_train

    # Data the stored (inferred, on S3) contract refuses: an error, and the bucket is unchanged.
    keys = list_keys(s3_endpoint, s3_bucket)
    frame = make_churn(300, seed=3)
    frame.insert(2, "score", range(len(frame)))
    bad_csv = tmp_path / "bad.csv"
    frame.to_csv(bad_csv, index=False)
    with pytest.raises(DataValidationError, match=r"column 'score' is not in the contract"):
        _ingest(bad_csv, s3_snapshots)
    assert list_keys(s3_endpoint, s3_bucket) == keys
    assert not list(Path(tempfile.gettempdir()).iterdir())

    meta = json.loads((s3_snapshots / "churn" / second.version / "meta.json").read_text())
    assert meta["n_rows"] == 500


def test_missing_datasets_and_versions_on_s3_are_named(churn_csv: Path, s3_snapshots: UPath) -> None:
    with pytest.raises(
        SnapshotNotFoundError, match=r"no snapshots of dataset 'churn' .* datasets found: none"
    ):
        load_snapshot(s3_snapshots, "churn")
    snap = ingest(churn_csv, dataset="churn", target="churned", snapshots_dir=s3_snapshots)
    with pytest.raises(
        SnapshotNotFoundError, match=r"no snapshots of dataset 'other' .* datasets found: \['churn'\]"
    ):
        load_snapshot(s3_snapshots, "other")
    with pytest.raises(
        SnapshotNotFoundError, match=rf"no snapshot version '0000' .* versions found: \['{snap.version}'\]"
    ):
        load_snapshot(s3_snapshots, "churn", "0000")
