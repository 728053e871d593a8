"""CSV ingestion: versioned, immutable, atomic snapshots and validation errors a human can act on."""

from __future__ import annotations

import json
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
    ingest_csv,
    list_snapshot_versions,
    load_snapshot,
    make_churn,
)
from airflow_mlops.datasets import ingest as ingest_module


@pytest.fixture
def churn_csv(tmp_path: Path) -> Path:
    path = tmp_path / "churn.csv"
    make_churn(1000, seed=3).to_csv(path, index=False)
    return path


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    return tmp_path / "snapshots"


def _ingest(source: Path, snapshots_dir: Path, **kwargs: Any) -> Snapshot:
    return ingest_csv(source, dataset="churn", target="churned", snapshots_dir=snapshots_dir, **kwargs)


def _tree(root: Path, *, dir_mtimes: bool = True) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with (inode, mtime_ns): any rewrite changes one of them.

    A directory's mtime also changes when a temporary entry was created and
    removed in it; ``dir_mtimes=False`` ignores that.
    """
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns if dir_mtimes or p.is_file() else 0)
        for p in sorted(root.rglob("*"))
    }


def test_snapshot_is_written_with_profile_and_meta(churn_csv: Path, snapshots: Path) -> None:
    snap = _ingest(churn_csv, snapshots)

    assert snap.dataset == "churn"
    assert snap.target == "churned"
    assert snap.path == snapshots / "churn" / snap.version
    assert len(snap.version) == 16
    assert sorted(p.name for p in snap.path.iterdir()) == [
        "holdout.parquet",
        "meta.json",
        "profile.json",
        "train.parquet",
    ]
    assert (snapshots / "churn" / "LATEST").read_text().strip() == snap.version
    assert not [p for p in (snapshots / "churn").iterdir() if p.name.startswith(".")]

    meta = json.loads((snap.path / "meta.json").read_text())
    assert meta["dataset"] == "churn"
    assert meta["version"] == snap.version
    assert meta["content_sha256"].startswith(snap.version)
    assert meta["source"] == str(churn_csv)
    assert meta["target"] == "churned"
    assert meta["n_rows"] == 1000
    assert (meta["n_train"], meta["n_holdout"]) == (snap.n_train, snap.n_holdout)
    assert meta["split_method"] == "stratified"
    assert meta["created_at"].endswith("+00:00")
    columns = {c["name"]: c["dtype"] for c in meta["columns"]}
    assert list(columns) == list(pd.read_csv(churn_csv).columns)
    assert columns["tenure_months"] == "int64"
    assert columns["contract"] == "object"

    source = pd.read_csv(churn_csv)
    profile = snap.profile()
    assert profile["n_rows"] == 1000
    tenure = profile["columns"]["tenure_months"]
    assert tenure["kind"] == "numeric"
    assert tenure["min"] == source["tenure_months"].min()
    assert tenure["max"] == source["tenure_months"].max()
    assert tenure["quantiles"]["0.5"] == pytest.approx(source["tenure_months"].median())
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
    assert snap.meta() == meta


def test_split_sizes_cover_every_row_once(churn_csv: Path, snapshots: Path) -> None:
    snap = _ingest(churn_csv, snapshots, holdout_fraction=0.25)
    train, holdout = snap.train_frame(), snap.holdout_frame()
    assert (snap.n_train, snap.n_holdout) == (750, 250)
    assert (len(train), len(holdout)) == (750, 250)
    source = pd.read_csv(churn_csv)
    assert set(train["customer_id"]).isdisjoint(holdout["customer_id"])
    assert set(train["customer_id"]) | set(holdout["customer_id"]) == set(source["customer_id"])
    assert list(train.columns) == list(source.columns)
    # Rows keep file order inside each split.
    order = {cid: i for i, cid in enumerate(source["customer_id"])}
    assert train["customer_id"].map(order).is_monotonic_increasing


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_split_is_stratified_on_class_labels(tmp_path: Path, seed: int) -> None:
    labels = np.array(["common"] * 900 + ["medium"] * 90 + ["rare"] * 10)
    rng = np.random.default_rng(99)
    frame = pd.DataFrame({"x": rng.normal(size=1000), "label": rng.permutation(labels)})
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    snap = ingest_csv(path, dataset="labels", target="label", snapshots_dir=tmp_path / "s", seed=seed)
    counts = snap.holdout_frame()["label"].value_counts().to_dict()
    # A plain random split would almost never hit these exact proportions for all five seeds.
    assert counts == {"common": 180, "medium": 18, "rare": 2}
    assert snap.meta()["split_method"] == "stratified"


def test_split_is_reproducible_from_the_seed(churn_csv: Path, tmp_path: Path) -> None:
    first = _ingest(churn_csv, tmp_path / "a", seed=11)
    again = _ingest(churn_csv, tmp_path / "b", seed=11)
    other = _ingest(churn_csv, tmp_path / "c", seed=12)
    assert first.version == again.version
    pd.testing.assert_frame_equal(first.holdout_frame(), again.holdout_frame())
    assert other.version != first.version
    assert set(other.holdout_frame()["customer_id"]) != set(first.holdout_frame()["customer_id"])


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


def test_continuous_target_gets_a_random_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "reg.csv"
    pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)}).to_csv(path, index=False)
    snap = ingest_csv(path, dataset="reg", target="y", snapshots_dir=tmp_path / "s")
    assert (snap.n_train, snap.n_holdout) == (160, 40)
    assert snap.meta()["split_method"] == "random"
    assert snap.meta()["task_hint"] == "regression"


def test_identical_reingest_is_a_noop(churn_csv: Path, snapshots: Path) -> None:
    first = _ingest(churn_csv, snapshots)
    before = _tree(snapshots)
    time.sleep(0.02)  # any rewrite would now get a different mtime
    second = _ingest(churn_csv, snapshots)
    assert second == first
    assert _tree(snapshots) == before


def test_changed_data_gives_a_new_version_and_moves_latest(churn_csv: Path, snapshots: Path) -> None:
    first = _ingest(churn_csv, snapshots)
    old_files = _tree(first.path)
    frame = pd.read_csv(churn_csv)
    frame.loc[0, "tenure_months"] += 1
    frame.to_csv(churn_csv, index=False)

    second = _ingest(churn_csv, snapshots)
    assert second.version != first.version
    assert (snapshots / "churn" / "LATEST").read_text().strip() == second.version
    assert load_snapshot(snapshots, "churn") == second
    assert load_snapshot(snapshots, "churn", first.version) == first
    assert _tree(first.path) == old_files
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


def _write(content: str | bytes) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "bad.csv"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    return make


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "missing file": (lambda tmp: tmp / "nope.csv", ["does not exist"]),
    "empty file": (_write(b""), ["empty"]),
    "whitespace only": (_write("\n  \n"), ["empty"]),
    "header only": (_write("a,b,churned\n"), ["no data rows"]),
    "missing target": (
        _write("a,b,label\n1,2,0\n3,4,1\n"),
        ["'churned'", "not found", "['a', 'b', 'label']"],
    ),
    "constant target": (_write("a,churned\n1,1\n2,1\n3,1\n"), ["'churned'", "single value", "two distinct"]),
    "all-null target": (_write("a,churned\n1,\n2,\n"), ["'churned'", "empty in all 2 rows"]),
    "some null targets": (_write("a,churned\n1,0\n2,\n3,1\n4,\n"), ["'churned'", "data rows 2, 4"]),
    "duplicate columns": (_write("a,churned,a\n1,0,2\n3,1,4\n"), ["duplicate", "'a'", "positions [1, 3]"]),
    "unnamed column": (_write(",a,churned\n0,1,0\n1,2,1\n"), ["unnamed", "position(s) [1]"]),
    "too many fields": (_write("a,churned\n1,0\n2,1\n3,0,9\n"), ["data row 3", "more fields"]),
    "not utf-8": (_write(b"a,churned\n\xff\xfe,0\n1,1\n"), ["UTF-8"]),
    "first row too long": (_write("a,churned\n1,0,5\n2,1\n"), ["data row 1", "more fields"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_and_changes_nothing(case: str, churn_csv: Path, tmp_path: Path) -> None:
    make, fragments = BAD_INPUTS[case]
    snapshots = tmp_path / "snapshots"
    good = _ingest(churn_csv, snapshots)
    before = _tree(snapshots)
    bad = make(tmp_path)

    with pytest.raises(DataValidationError) as caught:
        _ingest(bad, snapshots)

    message = str(caught.value)
    assert str(bad) in message
    for fragment in fragments:
        assert fragment in message, message
    assert _tree(snapshots) == before
    assert load_snapshot(snapshots, "churn") == good


@pytest.mark.parametrize("case", ["missing file", "header only", "missing target"])
def test_bad_input_for_a_new_dataset_creates_no_directory(case: str, tmp_path: Path) -> None:
    make, _ = BAD_INPUTS[case]
    snapshots = tmp_path / "snapshots"
    with pytest.raises(DataValidationError):
        ingest_csv(make(tmp_path), dataset="fresh", target="churned", snapshots_dir=snapshots)
    assert not (snapshots / "fresh").exists()


def test_bad_time_column_names_rows(churn_csv: Path, snapshots: Path) -> None:
    frame = pd.read_csv(churn_csv)
    frame["event_time"] = frame["event_time"].astype(object)
    frame.loc[4, "event_time"] = "yesterday-ish"
    frame.to_csv(churn_csv, index=False)
    with pytest.raises(DataValidationError, match=r"'event_time'.*data row 5.*yesterday-ish"):
        _ingest(churn_csv, snapshots, time_column="event_time")
    with pytest.raises(DataValidationError, match=r"time column 'nope' not found"):
        _ingest(churn_csv, snapshots, time_column="nope")
    assert not snapshots.exists()


def test_failed_write_leaves_no_partial_snapshot(
    churn_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshots = tmp_path / "snapshots"
    good = _ingest(churn_csv, snapshots)
    before = _tree(snapshots, dir_mtimes=False)
    other = tmp_path / "other.csv"
    make_churn(200, seed=8).to_csv(other, index=False)

    def explode(path: Path, data: dict[str, Any]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ingest_module, "_write_json", explode)  # fails after the Parquet files exist
    with pytest.raises(OSError, match="disk full"):
        _ingest(other, snapshots)
    assert _tree(snapshots, dir_mtimes=False) == before  # no new version, no leftover temporary dir
    assert load_snapshot(snapshots, "churn") == good

    monkeypatch.undo()
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
    "kwargs",
    [
        {"dataset": "../escape"},
        {"dataset": ""},
        {"holdout_fraction": 0.0},
        {"holdout_fraction": 1.0},
        {"seed": -1},
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, Any], churn_csv: Path, snapshots: Path) -> None:
    arguments: dict[str, Any] = {"dataset": "churn", "target": "churned", "snapshots_dir": snapshots}
    arguments.update(kwargs)
    with pytest.raises(ValueError):
        ingest_csv(churn_csv, **arguments)
    assert not snapshots.exists()
