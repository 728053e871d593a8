"""Data contracts: inferred on the first ingestion, drift checked later, policies, hand-written YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.datasets import (
    Contract,
    ContractError,
    DataValidationError,
    Snapshot,
    find_contract,
    ingest,
    load_contract,
    load_snapshot,
    make_churn,
)

REPO = Path(__file__).resolve().parents[3]


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"K{seed}-{i:04d}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "income": np.where(np.arange(n) % 10 == 3, np.nan, np.round(rng.normal(50_000, 9_000, n), 2)),
            "segment": rng.choice(["a", "b", "c"], n),
            "joined": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "label": rng.choice(["no", "yes", "maybe"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def _ingest(path: Path, snapshots: Path, **kwargs: Any) -> Snapshot:
    return ingest(path, dataset="people", target="label", snapshots_dir=snapshots, **kwargs)


@pytest.fixture
def first(tmp_path: Path, snapshots: Path) -> Snapshot:
    return _ingest(_write(_frame(), tmp_path / "v1.csv"), snapshots, key="id")


def test_first_ingestion_infers_and_stores_the_contract(first: Snapshot, snapshots: Path) -> None:
    stored = load_contract(snapshots / "people" / "contract.yaml", origin="inferred")
    assert stored == first.contract()
    assert stored.target == "label"
    assert stored.task == "multiclass"
    assert stored.classes == ("maybe", "no", "yes")
    assert stored.key == ("id",)
    columns = {c.name: c for c in stored.columns}
    assert list(columns) == ["id", "age", "income", "segment", "joined", "label"]
    assert (columns["age"].type, columns["age"].dtype, columns["age"].nullable, columns["age"].min) == (
        "numeric",
        "int",
        False,
        0.0,
    )
    assert (columns["income"].type, columns["income"].dtype, columns["income"].nullable) == (
        "numeric",
        "float",
        True,
    )
    assert columns["segment"].type == "categorical" and columns["segment"].values is None  # never inferred
    assert columns["joined"].type == "datetime"
    assert columns["id"].type == "text" and not columns["id"].nullable
    assert first.meta()["contract"]["origin"] == "inferred"


def test_contract_yaml_round_trips(first: Snapshot, tmp_path: Path) -> None:
    contract = first.contract()
    path = tmp_path / "copy.yaml"
    path.write_text(contract.to_yaml())
    again = load_contract(path)
    assert again.to_dict() == contract.to_dict()
    assert again.digest() == contract.digest()


@pytest.mark.usefixtures("first")
def test_missing_column_fails_or_warns(tmp_path: Path, snapshots: Path) -> None:
    path = _write(_frame(seed=1).drop(columns=["income"]), tmp_path / "v2.csv")
    with pytest.raises(DataValidationError) as caught:
        _ingest(path, snapshots)
    message = str(caught.value)
    assert "column 'income' of the contract is missing" in message
    assert "['id', 'age', 'segment', 'joined', 'label']" in message
    assert str(snapshots / "people" / "contract.yaml") in message
    assert caught.value.check == "missing_column"

    snap = _ingest(path, snapshots, checks={"missing_column": "warn"})
    assert "income" not in snap.train_frame().columns
    assert [i["check"] for i in snap.meta()["issues"]] == ["missing_column"]
    assert "column 'income' of the contract is missing" in snap.meta()["issues"][0]["message"]


@pytest.mark.usefixtures("first")
def test_extra_column_fails_or_warns(tmp_path: Path, snapshots: Path) -> None:
    frame = _frame(seed=2)
    frame.insert(2, "score", np.arange(len(frame)) / 10)
    path = _write(frame, tmp_path / "v2.csv")
    with pytest.raises(DataValidationError, match=r"column 'score' is not in the contract"):
        _ingest(path, snapshots)
    snap = _ingest(path, snapshots, policy="warn")
    assert list(snap.train_frame().columns) == ["id", "age", "score", "income", "segment", "joined", "label"]
    assert snap.meta()["issues"][0]["check"] == "extra_column"


@pytest.mark.usefixtures("first")
def test_type_change_fails_or_warns(tmp_path: Path, snapshots: Path) -> None:
    frame = _frame(seed=3)
    frame["age"] = np.where(frame["age"] > 40, "senior", "junior")
    path = _write(frame, tmp_path / "v2.csv")
    with pytest.raises(DataValidationError) as caught:
        _ingest(path, snapshots)
    message = str(caught.value)
    assert (
        "column 'age' is numeric (int) in the contract, but only 0% of its first 200 values read as that"
        in message
    )
    assert "it now looks categorical" in message and "expected an integer" in message
    snap = _ingest(path, snapshots, checks={"type_change": "warn"})
    assert snap.train_frame()["age"].isin(["senior", "junior"]).all()


@pytest.mark.usefixtures("first")
def test_a_few_bad_values_are_invalid_values_not_a_type_change(tmp_path: Path, snapshots: Path) -> None:
    frame = _frame(seed=4)
    frame["age"] = frame["age"].astype(object)
    frame.loc[[5, 17], "age"] = ["42.5", "forty"]
    path = _write(frame, tmp_path / "v2.csv")
    with pytest.raises(DataValidationError) as caught:
        _ingest(path, snapshots)
    assert caught.value.check == "invalid_value"
    assert caught.value.rows == (6, 18)
    assert "'42.5'" in str(caught.value) and "expected an integer" in str(caught.value)


@pytest.mark.usefixtures("first")
def test_new_target_class_fails_or_is_quarantined(tmp_path: Path, snapshots: Path) -> None:
    frame = _frame(seed=5)
    frame.loc[[10, 50], "label"] = "unsure"
    path = _write(frame, tmp_path / "v2.csv")
    with pytest.raises(DataValidationError) as caught:
        _ingest(path, snapshots)
    message = str(caught.value)
    assert "column 'label' has target class(es) the contract does not list in data rows 11, 51" in message
    assert "(e.g. 'unsure')" in message and "['maybe', 'no', 'yes']" in message

    snap = _ingest(path, snapshots, policy="quarantine")
    quarantined = snap.quarantine_frame()
    assert list(quarantined["_row"]) == [11, 51]
    assert set(quarantined["_check"]) == {"new_class"}
    assert quarantined["label"].tolist() == ["unsure", "unsure"]
    assert "expected one of the contract's classes" in quarantined["_reason"].iloc[0]
    assert snap.n_train + snap.n_holdout == 198
    assert snap.meta()["n_quarantined"] == 2
    assert snap.meta()["issues"][0]["rows"] == [11, 51]


@pytest.mark.usefixtures("first")
def test_vanished_class_fails_or_warns(tmp_path: Path, snapshots: Path) -> None:
    frame = _frame(seed=6)
    frame = frame[frame["label"] != "maybe"]
    path = _write(frame, tmp_path / "v2.csv")
    with pytest.raises(
        DataValidationError, match=r"target class\(es\) \['maybe'\] of the contract have no row"
    ):
        _ingest(path, snapshots)
    snap = _ingest(path, snapshots, checks={"vanished_class": "warn"})
    assert snap.meta()["issues"][0]["check"] == "vanished_class"


@pytest.mark.usefixtures("first")
def test_nulls_in_a_column_that_was_complete(tmp_path: Path, snapshots: Path) -> None:
    frame = _frame(seed=7)
    frame.loc[[3, 4], "segment"] = None
    path = _write(frame, tmp_path / "v2.csv")
    with pytest.raises(DataValidationError) as caught:
        _ingest(path, snapshots)
    assert "column 'segment' is empty in data rows 4, 5" in str(caught.value)
    assert "the contract says nullable: false" in str(caught.value)
    snap = _ingest(path, snapshots, checks={"null": "warn"})
    assert snap.train_frame()["segment"].isna().sum() + snap.holdout_frame()["segment"].isna().sum() == 2


@pytest.mark.usefixtures("first")
def test_negative_values_break_the_inferred_minimum(tmp_path: Path, snapshots: Path) -> None:
    frame = _frame(seed=8)
    frame.loc[7, "age"] = -3
    path = _write(frame, tmp_path / "v2.csv")
    with pytest.raises(DataValidationError) as caught:
        _ingest(path, snapshots)
    assert "column 'age' has values below the minimum 0 in data row 8 (e.g. '-3')" in str(caught.value)


def test_duplicate_keys_quarantine_keeps_the_first(tmp_path: Path, snapshots: Path) -> None:
    frame = _frame(seed=9)
    frame.loc[[20, 30], "id"] = frame.loc[2, "id"]
    path = _write(frame, tmp_path / "dups.csv")
    snap = _ingest(path, snapshots, key="id", policy="quarantine")
    quarantined = snap.quarantine_frame()
    assert list(quarantined["_row"]) == [21, 31]
    assert quarantined["_reason"].tolist() == ["key (id) first seen in data row 3"] * 2
    kept = pd.concat([snap.train_frame(), snap.holdout_frame()])
    assert kept["id"].is_unique and len(kept) == 198
    assert (kept["id"] == frame.loc[2, "id"]).sum() == 1


def test_first_ingestion_policy_is_stored_with_the_contract(tmp_path: Path, snapshots: Path) -> None:
    _ingest(
        _write(_frame(), tmp_path / "v1.csv"), snapshots, policy="quarantine", checks={"extra_column": "warn"}
    )
    contract = load_contract(snapshots / "people" / "contract.yaml")
    assert contract.policy == "quarantine"
    assert contract.policy_for("null") == "quarantine"
    assert contract.policy_for("missing_column") == "fail"  # nothing to quarantine in a whole column
    assert contract.policy_for("extra_column") == "warn"
    frame = _frame(seed=10)
    frame.loc[0, "label"] = "unsure"
    snap = _ingest(_write(frame, tmp_path / "v2.csv"), snapshots)  # no policy given: the contract's
    assert list(snap.quarantine_frame()["_row"]) == [1]


def test_hand_written_contract_bounds_and_categories(tmp_path: Path, snapshots: Path) -> None:
    contract_path = tmp_path / "people.yaml"
    contract_path.write_text(
        """
dataset: people
target: label
classes: [no, yes, maybe]
policy: quarantine
columns:
  id: {type: text, nullable: false}
  age: {type: numeric, dtype: int, min: 18, max: 65}
  income: {type: numeric, dtype: float}
  segment: {type: categorical, values: [a, b]}
  joined: {type: datetime}
  label: categorical
"""
    )
    frame = _frame(seed=11)
    snap = _ingest(_write(frame, tmp_path / "v.csv"), snapshots, contract=contract_path)
    quarantined = snap.quarantine_frame()
    too_old = set(np.flatnonzero(frame["age"] > 65) + 1)
    segment_c = set(np.flatnonzero(frame["segment"] == "c") + 1)
    assert set(quarantined["_row"]) == too_old | segment_c  # 'no'/'yes' stay strings (YAML 1.2 booleans)
    both = sorted(too_old & segment_c)[0]
    reason = quarantined.set_index("_row").loc[both, "_reason"]
    assert "above the maximum 65" in reason and "outside the allowed values" in reason
    assert snap.meta()["contract"]["path"] == str(contract_path)
    assert snap.meta()["contract"]["origin"] == "hand-written"
    assert not (snapshots / "people" / "contract.yaml").exists()  # a hand-written contract is never replaced


def test_the_demo_contract_under_include_accepts_the_demo_data(tmp_path: Path) -> None:
    path = find_contract("churn", [REPO / "include" / "contracts"])
    assert path == REPO / "include" / "contracts" / "churn.yaml"
    for period in ("reference", "shifted", "concept"):
        data = tmp_path / f"{period}.csv"
        make_churn(3000, seed=2, period=period).to_csv(data, index=False)  # type: ignore[arg-type]
        snap = ingest(data, dataset="churn", target="churned", snapshots_dir=tmp_path / period, contract=path)
        assert snap.meta()["issues"] == [], period
        assert snap.meta()["n_quarantined"] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected a mapping"),
        ("dataset: people\ntarget: label\ncolumns: {label: text}\nowner: me\n", "unknown key(s) ['owner']"),
        ("dataset: people\ncolumns: {label: text}\n", "missing required key 'target'"),
        (
            "dataset: people\ntarget: label\ncolumns: {age: numeric}\n",
            "target 'label' is not among the columns ['age']",
        ),
        (
            "dataset: people\ntarget: label\ncolumns: {label: {type: number}}\n",
            "columns.label.type: 'number' is not a type; expected one of",
        ),
        (
            "dataset: people\ntarget: label\ncolumns: {label: text, age: {type: numeric, min: 9, max: 1}}\n",
            "columns.age: min 9.0 is greater than max 1.0",
        ),
        (
            "dataset: people\ntarget: label\ncolumns: {label: text, age: {type: text, dtype: int}}\n",
            "columns.age.dtype: 'int' is not allowed for type 'text'",
        ),
        (
            "dataset: people\ntarget: label\npolicy: skip\ncolumns: {label: text}\n",
            "policy: 'skip' is not a policy; expected one of ['fail', 'warn', 'quarantine']",
        ),
        (
            "dataset: people\ntarget: label\nchecks: {all_null: quarantine}\ncolumns: {label: text}\n",
            "checks.all_null: 'quarantine' is not possible",
        ),
        ("dataset: people\ntarget: label\nkey: [nope]\ncolumns: {label: text}\n", "key: column(s) ['nope']"),
        ("dataset: [people\n", "not valid YAML"),
    ],
)
def test_malformed_contracts_name_the_file_and_field(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "people.yaml"
    path.write_text(text)
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value), str(caught.value)


def test_a_contract_of_another_dataset_is_refused(tmp_path: Path, snapshots: Path) -> None:
    contract = Contract.from_dict(
        {"dataset": "other", "target": "label", "columns": {"label": "text"}}, where="inline"
    )
    with pytest.raises(ValueError, match=r"is for dataset 'other', not 'people'"):
        _ingest(_write(_frame(), tmp_path / "v.csv"), snapshots, contract=contract)
    assert not (snapshots / "people").exists()


def test_quarantined_version_differs_and_reingest_is_a_noop(tmp_path: Path, snapshots: Path) -> None:
    clean = _frame(seed=12)
    dirty = pd.concat([clean, clean.iloc[[0]].assign(label="unsure")], ignore_index=True)
    first = _ingest(_write(clean, tmp_path / "clean.csv"), snapshots)
    second = _ingest(_write(dirty, tmp_path / "dirty.csv"), snapshots, policy="quarantine")
    assert second.version != first.version  # same kept rows, but the quarantine is part of the version
    assert _ingest(tmp_path / "dirty.csv", snapshots, policy="quarantine") == second
    assert load_snapshot(snapshots, "people") == second
