"""Ingestion end to end: versioned, immutable, atomic snapshots, reproducible splits, idempotent re-ingest."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.datasets import (
    DataValidationError,
    Snapshot,
    SnapshotNotFoundError,
    ingest,
    ingest_csv,
    ingestion,
    list_snapshot_versions,
    load_snapshot,
    make_churn,
)
from airflow_mlops.datasets.sources import CsvSource


def _ingest(source: Path, snapshots_dir: Path, **kwargs: Any) -> Snapshot:
    return ingest_csv(source, dataset="churn", target="churned", snapshots_dir=snapshots_dir, **kwargs)


def test_snapshot_is_written_with_profile_meta_and_contract(churn_csv: Path, snapshots: Path) -> None:
    snap = _ingest(churn_csv, snapshots)

    assert snap.dataset == "churn"
    assert snap.target == "churned"
    assert snap.path == snapshots / "churn" / snap.version
    assert len(snap.version) == 16
    assert sorted(p.name for p in snap.path.iterdir()) == [
        "contract.yaml",
        "holdout.parquet",
        "meta.json",
        "profile.json",
        "train.parquet",
    ]
    assert (snapshots / "churn" / "LATEST").read_text().strip() == snap.version
    assert (snapshots / "churn" / "contract.yaml").is_file()
    assert not list((snapshots / ".staging").iterdir())

    meta = json.loads((snap.path / "meta.json").read_text())
    assert meta["dataset"] == "churn"
    assert meta["version"] == snap.version
    assert meta["content_sha256"].startswith(snap.version)
    assert meta["source"] == str(churn_csv)
    assert meta["source_info"]["dialect"]["delimiter"] == ","
    assert meta["target"] == "churned"
    assert meta["task"] == "binary"
    assert meta["n_rows"] == meta["n_source_rows"] == 1000
    assert (meta["n_train"], meta["n_holdout"]) == (snap.n_train, snap.n_holdout)
    assert meta["split_method"] == "stratified"
    assert meta["created_at"].endswith("+00:00")
    assert meta["contract"]["origin"] == "inferred"
    assert meta["issues"] == []
    types = {c["name"]: (c["type"], c["dtype"]) for c in meta["columns"]}
    assert list(types) == list(pd.read_csv(churn_csv).columns)
    assert types["tenure_months"] == ("numeric", "int64")
    assert types["monthly_charges"] == ("numeric", "double")
    assert types["contract"] == ("categorical", "string")
    assert types["customer_id"] == ("text", "string")
    assert types["event_time"] == ("datetime", "timestamp[ns, tz=UTC]")

    source = pd.read_csv(churn_csv)
    profile = snap.profile()
    assert profile["n_rows"] == 1000
    tenure = profile["columns"]["tenure_months"]
    assert tenure["kind"] == "numeric"
    assert tenure["min"] == source["tenure_months"].min()
    assert tenure["max"] == source["tenure_months"].max()
    assert tenure["mean"] == pytest.approx(source["tenure_months"].mean())
    assert tenure["std"] == pytest.approx(source["tenure_months"].std())
    for q in ("0.05", "0.5", "0.95"):
        assert tenure["quantiles"][q] == pytest.approx(source["tenure_months"].quantile(float(q)))
    charges = profile["columns"]["total_charges"]
    assert charges["missing_rate"] == pytest.approx(source["total_charges"].isna().mean())
    assert charges["missing_rate"] > 0
    contract = profile["columns"]["contract"]
    assert contract["kind"] == "categorical"
    assert contract["distinct"] == 3
    top = contract["top"][0]
    assert top == {"value": "month-to-month", "count": int((source["contract"] == "month-to-month").sum())}
    assert profile["columns"]["customer_id"]["distinct"] == 1000
    assert profile["target"]["distribution"] == {
        str(k): int(v) for k, v in source["churned"].value_counts().items()
    }
    assert sum(profile["target"]["distribution_holdout"].values()) == snap.n_holdout
    assert snap.meta() == meta


def test_frames_keep_every_row_once_in_file_order(churn_csv: Path, snapshots: Path) -> None:
    snap = _ingest(churn_csv, snapshots, holdout_fraction=0.25)
    train, holdout = snap.train_frame(), snap.holdout_frame()
    assert snap.n_train + snap.n_holdout == 1000
    assert (len(train), len(holdout)) == (snap.n_train, snap.n_holdout)
    assert abs(snap.n_holdout - 250) <= 2
    source = pd.read_csv(churn_csv)
    assert set(train["customer_id"]).isdisjoint(holdout["customer_id"])
    assert set(train["customer_id"]) | set(holdout["customer_id"]) == set(source["customer_id"])
    assert list(train.columns) == list(source.columns)
    order = {cid: i for i, cid in enumerate(source["customer_id"])}
    assert train["customer_id"].map(order).is_monotonic_increasing
    assert holdout["customer_id"].map(order).is_monotonic_increasing
    # Values survive the round trip (types as the contract says).
    merged = pd.concat([train, holdout]).set_index("customer_id").loc[source["customer_id"]]
    np.testing.assert_allclose(merged["monthly_charges"], source["monthly_charges"])
    assert str(train["event_time"].dt.tz) == "UTC"
    assert (
        merged["event_time"].to_numpy() == pd.to_datetime(source["event_time"], utc=True).to_numpy()
    ).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_split_is_stratified_on_class_labels(tmp_path: Path, seed: int) -> None:
    labels = np.array(["common"] * 900 + ["medium"] * 90 + ["rare"] * 10)
    rng = np.random.default_rng(99)
    frame = pd.DataFrame({"x": rng.normal(size=1000), "label": rng.permutation(labels)})
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    snap = ingest_csv(path, dataset="labels", target="label", snapshots_dir=tmp_path / "s", seed=seed)
    counts = snap.holdout_frame()["label"].value_counts().to_dict()
    # Each class within one row of 20%: a plain random split misses "rare" (expected 2 of 10) often.
    assert abs(counts["common"] - 180) <= 1
    assert abs(counts["medium"] - 18) <= 1
    assert counts.get("rare", 0) in (1, 2)
    assert snap.meta()["split_method"] == "stratified"
    assert snap.profile()["target"]["distribution_holdout"] == counts


def test_every_class_keeps_a_training_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(40), "y": ["a"] * 37 + ["b", "c", "c"]})
    path = tmp_path / "few.csv"
    frame.to_csv(path, index=False)
    for seed in range(10):
        snap = ingest_csv(path, dataset=f"few{seed}", target="y", snapshots_dir=tmp_path / "s", seed=seed)
        assert {"a", "b", "c"} <= set(snap.train_frame()["y"])


def test_split_is_reproducible_from_the_seed(churn_csv: Path, tmp_path: Path) -> None:
    first = _ingest(churn_csv, tmp_path / "a", seed=11)
    again = _ingest(churn_csv, tmp_path / "b", seed=11)
    other = _ingest(churn_csv, tmp_path / "c", seed=12)
    assert first.version == again.version
    pd.testing.assert_frame_equal(first.holdout_frame(), again.holdout_frame())
    assert other.version != first.version
    assert set(other.holdout_frame()["customer_id"]) != set(first.holdout_frame()["customer_id"])


def test_chunking_changes_nothing(churn_csv: Path, tmp_path: Path) -> None:
    """The version, the split and the profile are the same whether the CSV is read in 1 or ~20 chunks."""
    whole = ingest(churn_csv, dataset="churn", target="churned", snapshots_dir=tmp_path / "a")
    pieces = ingest(
        churn_csv,
        dataset="churn",
        target="churned",
        snapshots_dir=tmp_path / "b",
        options={"block_size": 8192},
    )
    assert pieces.version == whole.version
    pd.testing.assert_frame_equal(pieces.holdout_frame(), whole.holdout_frame())
    assert pieces.profile() == whole.profile()


def test_same_rows_from_csv_parquet_and_json_lines_get_the_same_version(tmp_path: Path) -> None:
    frame = make_churn(300, seed=5)
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True, date_format="iso", date_unit="s")
    versions = {
        name: ingest(
            tmp_path / name, dataset="d", target="churned", snapshots_dir=tmp_path / name.replace(".", "_")
        )
        for name in ("d.csv", "d.parquet", "d.jsonl")
    }
    assert len({s.version for s in versions.values()}) == 1, {k: v.version for k, v in versions.items()}
    pd.testing.assert_frame_equal(versions["d.csv"].train_frame(), versions["d.parquet"].train_frame())


def test_time_split_holds_out_the_latest_rows(tmp_path: Path) -> None:
    frame = make_churn(500, seed=4).sample(frac=1.0, random_state=0)  # file order != time order
    path = tmp_path / "shuffled.csv"
    frame.to_csv(path, index=False)
    snap = ingest_csv(
        path, dataset="churn", target="churned", snapshots_dir=tmp_path / "s", time_column="event_time"
    )
    train, holdout = snap.train_frame(), snap.holdout_frame()
    assert (len(train), len(holdout)) == (400, 100)
    assert str(train["event_time"].dt.tz) == "UTC"
    assert train["event_time"].max() <= holdout["event_time"].min()
    expected = set(frame.sort_values("event_time", kind="stable")["customer_id"].iloc[-100:])
    assert set(holdout["customer_id"]) == expected
    assert snap.meta()["split_method"] == "time"
    assert snap.profile()["columns"]["event_time"]["kind"] == "datetime"
    assert sum(snap.profile()["target"]["distribution_holdout"].values()) == 100
    assert not (snap.path / "all.parquet").exists()


def test_continuous_target_gets_a_random_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "reg.csv"
    pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)}).to_csv(path, index=False)
    snap = ingest_csv(path, dataset="reg", target="y", snapshots_dir=tmp_path / "s")
    assert abs(snap.n_holdout - 40) <= 1 and snap.n_train + snap.n_holdout == 200
    assert snap.meta()["split_method"] == "random"
    assert snap.meta()["task"] == "regression"
    assert snap.meta()["task_hint"] == "regression"


def test_identical_reingest_is_a_noop(
    churn_csv: Path, snapshots: Path, snapshot_tree: Callable[..., Any]
) -> None:
    first = _ingest(churn_csv, snapshots)
    before = snapshot_tree(snapshots)
    time.sleep(0.02)  # any rewrite would now get a different mtime
    second = _ingest(churn_csv, snapshots)
    assert second == first
    assert snapshot_tree(snapshots) == before


def test_identical_rows_from_another_file_reuse_the_version(
    churn_csv: Path, snapshots: Path, snapshot_tree: Callable[..., Any]
) -> None:
    first = _ingest(churn_csv, snapshots)
    version_dir = snapshot_tree(first.path)
    copy = churn_csv.with_name("copy.csv")
    # Same rows, different bytes: the version is a hash of the data, not of the file.
    pd.read_csv(churn_csv).to_csv(copy, index=False, lineterminator="\r\n")
    again = _ingest(copy, snapshots)
    assert again == first
    assert snapshot_tree(first.path) == version_dir
    assert list_snapshot_versions(snapshots, "churn") == [first.version]


def test_changed_data_gives_a_new_version_and_moves_latest(
    churn_csv: Path, snapshots: Path, snapshot_tree: Callable[..., Any]
) -> None:
    first = _ingest(churn_csv, snapshots)
    old_files = snapshot_tree(first.path)
    frame = pd.read_csv(churn_csv)
    frame.loc[0, "tenure_months"] += 1
    frame.to_csv(churn_csv, index=False)

    second = _ingest(churn_csv, snapshots)
    assert second.version != first.version
    assert (snapshots / "churn" / "LATEST").read_text().strip() == second.version
    assert load_snapshot(snapshots, "churn") == second
    assert load_snapshot(snapshots, "churn", first.version) == first
    assert snapshot_tree(first.path) == old_files
    assert list_snapshot_versions(snapshots, "churn") == [first.version, second.version]


def test_changed_parameters_give_a_new_version(churn_csv: Path, snapshots: Path) -> None:
    first = _ingest(churn_csv, snapshots)
    assert _ingest(churn_csv, snapshots, holdout_fraction=0.3).version != first.version
    assert _ingest(churn_csv, snapshots, time_column="event_time").version != first.version


def test_reingesting_an_older_version_points_latest_back(churn_csv: Path, tmp_path: Path) -> None:
    snapshots = tmp_path / "s"
    first = _ingest(churn_csv, snapshots)
    other = tmp_path / "other.csv"
    make_churn(300, seed=9).to_csv(other, index=False)
    _ingest(other, snapshots)
    again = _ingest(churn_csv, snapshots)
    assert again == first
    assert load_snapshot(snapshots, "churn").version == first.version


def test_failed_write_leaves_no_partial_snapshot(
    churn_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_tree: Callable[..., Any]
) -> None:
    snapshots = tmp_path / "snapshots"
    good = _ingest(churn_csv, snapshots)
    before = snapshot_tree(snapshots)
    other = tmp_path / "other.csv"
    make_churn(200, seed=8).to_csv(other, index=False)

    def explode(path: Path, data: dict[str, Any]) -> None:
        raise OSError("disk full")

    # The one fault a test cannot cause for real: the disk filling up after the Parquet files exist.
    with monkeypatch.context() as patch:
        patch.setattr(ingestion, "write_json", explode)
        with pytest.raises(OSError, match="disk full"):
            _ingest(other, snapshots)
    assert snapshot_tree(snapshots) == before
    assert not list((snapshots / ".staging").iterdir())
    assert load_snapshot(snapshots, "churn") == good
    assert _ingest(other, snapshots).version != good.version


def test_snapshot_files_are_read_only(churn_csv: Path, snapshots: Path) -> None:
    snap = _ingest(churn_csv, snapshots)
    for path in snap.path.iterdir():
        assert path.stat().st_mode & 0o222 == 0, path


def test_load_snapshot_errors_name_what_exists(churn_csv: Path, snapshots: Path) -> None:
    snap = _ingest(churn_csv, snapshots)
    with pytest.raises(SnapshotNotFoundError, match=rf"'0000000000000000'.*\['{snap.version}'\]"):
        load_snapshot(snapshots, "churn", "0000000000000000")
    with pytest.raises(SnapshotNotFoundError, match=r"'cherns'.*datasets found: \['churn'\]"):
        load_snapshot(snapshots, "cherns")
    (snapshots / "churn" / "LATEST").unlink()
    with pytest.raises(SnapshotNotFoundError, match=rf"no LATEST.*{snap.version}"):
        load_snapshot(snapshots, "churn")
    with pytest.raises(FileNotFoundError, match="datasets found: none"):
        load_snapshot(snapshots / "missing", "churn")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "../escape"}, "dataset must be"),
        ({"dataset": ""}, "dataset must be"),
        ({"target": ""}, "target must be"),
        ({"holdout_fraction": 0.0}, "holdout_fraction must be strictly between 0 and 1, got 0.0"),
        ({"holdout_fraction": 1.0}, "got 1.0"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"policy": "ignore"}, "policy must be one of ['fail', 'warn', 'quarantine'], got 'ignore'"),
        ({"checks": {"nulls": "warn"}}, "'nulls' is not a check"),
        ({"checks": {"missing_column": "quarantine"}}, "expected 'fail' or 'warn'"),
        ({"key": [""]}, "key must be"),
        ({"chunk_rows": 0}, "chunk_rows must be a positive integer, got 0"),
        ({"format": "dbf"}, "format must be one of"),
        ({"options": {"delimitter": ";"}}, "unknown option(s) ['delimitter']"),
        ({"table": "t"}, "needs a connection"),
    ],
)
def test_bad_arguments_are_rejected_before_anything_is_written(
    kwargs: dict[str, Any], message: str, churn_csv: Path, snapshots: Path
) -> None:
    arguments: dict[str, Any] = {"dataset": "churn", "target": "churned", "snapshots_dir": snapshots}
    arguments.update(kwargs)
    with pytest.raises(ValueError) as caught:
        ingest(churn_csv, **arguments)
    assert message in str(caught.value)
    assert not isinstance(caught.value, DataValidationError)
    assert not (snapshots / "churn").exists()


def test_target_must_match_the_datasets_contract(churn_csv: Path, snapshots: Path) -> None:
    _ingest(churn_csv, snapshots)
    with pytest.raises(ValueError, match=r"target 'senior' differs from the target 'churned'"):
        ingest(churn_csv, dataset="churn", target="senior", snapshots_dir=snapshots)


def test_identical_reingest_is_fast_and_skips_parsing(
    churn_csv: Path, snapshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _ingest(churn_csv, snapshots)

    def no_parsing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an identical re-ingest must not parse the source")

    monkeypatch.setattr(CsvSource, "chunks", no_parsing)
    assert _ingest(churn_csv, snapshots) == first
    shutil.rmtree(snapshots / "churn" / ".sources")  # without the index it parses again
    with pytest.raises(AssertionError, match="must not parse"):
        _ingest(churn_csv, snapshots)


def test_a_warned_missing_time_trains(tmp_path: Path) -> None:
    frame = make_churn(100, seed=6)
    frame["event_time"] = frame["event_time"].astype(object)
    frame.loc[99, "event_time"] = None  # the latest row, but its time is unknown
    path = tmp_path / "times.csv"
    frame.to_csv(path, index=False)
    snap = ingest(
        path,
        dataset="t",
        target="churned",
        snapshots_dir=tmp_path / "s",
        time_column="event_time",
        checks={"null": "warn"},
    )
    assert frame.loc[99, "customer_id"] in set(snap.train_frame()["customer_id"])
    assert [i["check"] for i in snap.meta()["issues"]] == ["null"]
