"""The bad-input corpus: every broken source gets an error naming the source, row, column and expectation.

Each case runs twice: against a dataset that already has a good snapshot (the
contract inferred from it is in force; the snapshot directory, ``LATEST`` and
the contract must be exactly as before, byte for byte and inode for inode),
and against a fresh dataset (no directory may be created for it).
"""

from __future__ import annotations

import gzip
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from airflow_mlops.datasets import DataValidationError, ingest, load_snapshot

HEADER = "id,amount,plan,note,signup,churned"
PLANS = ("basic", "pro", "max")


def good_lines(n: int = 40) -> list[str]:
    """A small clean dataset: text id, float amount, categorical plan, sparse note, ISO date, 0/1 target."""
    lines = [HEADER]
    for i in range(1, n + 1):
        note = "vip" if i % 7 == 0 else ""
        lines.append(f"C{i:03d},{10 + i * 1.5:.2f},{PLANS[i % 3]},{note},2024-01-{1 + i % 28:02d},{i % 2}")
    return lines


def csv_text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def replace_row(row: int, line: str) -> Callable[[list[str]], list[str]]:
    """Replace data row ``row`` (1-based; the header is line 1, data row N is line N + 1)."""

    def edit(lines: list[str]) -> list[str]:
        out = list(lines)
        out[row] = line
        return out

    return edit


def set_field(column: str, value: str, rows: tuple[int, ...]) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        position = HEADER.split(",").index(column)
        out = list(lines)
        for row in rows:
            fields = out[row].split(",")
            fields[position] = value
            out[row] = ",".join(fields)
        return out

    return edit


def set_column(column: str, value: str) -> Callable[[list[str]], list[str]]:
    return set_field(column, value, tuple(range(1, 41)))


@dataclass
class Case:
    """A broken source: how to make it, how to ingest it, what the error must say."""

    make: Callable[[Path], Any]
    fragments: list[str]
    kwargs: dict[str, Any] = field(default_factory=dict)
    target: str = "churned"
    check: str | None = None
    column: str | None = None
    rows: tuple[int, ...] = ()
    names_source: bool = True


def write(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


def edited(*edits: Callable[[list[str]], list[str]], name: str = "bad.csv") -> Callable[[Path], Path]:
    lines = good_lines()
    for edit in edits:
        lines = edit(lines)
    return write(name, csv_text(lines))


def _semicolons(directory: Path) -> Path:
    path = directory / "semicolons.csv"
    path.write_text(csv_text([line.replace(",", ";") for line in good_lines()]), encoding="utf-8")
    return path


def _latin1(directory: Path) -> Path:
    path = directory / "latin1.csv"
    lines = set_field("plan", "caf\xe9", (3,))(good_lines())
    path.write_bytes(csv_text(lines).encode("latin-1"))
    return path


def _json_record(i: int, churned: str) -> str:
    return (
        f'{{"id": "C{i}", "amount": {i}.5, "plan": "pro", "note": null, "signup": "2024-01-0{i}", '
        f'"churned": {churned}}}'
    )


def _sqlite(directory: Path) -> Path:
    path = directory / "source.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id TEXT, amount REAL, churned INTEGER)")
        db.execute("INSERT INTO customers VALUES ('C1', 1.5, 0), ('C2', 2.5, 1)")
    return path


def _failing_query(directory: Path) -> dict[str, Any]:
    return {
        "source": "SELECT id, amount, churned FROM customerz",
        "connection": f"sqlite:///{_sqlite(directory)}",
    }


def _missing_table(directory: Path) -> dict[str, Any]:
    return {"source": None, "table": "customerz", "connection": f"sqlite:///{_sqlite(directory)}"}


def _outside_roots(directory: Path) -> Path:
    outside = directory.parent / f"{directory.name}-outside"
    outside.mkdir(exist_ok=True)
    path = outside / "data.csv"
    path.write_text(csv_text(good_lines()))
    return path


def _symlink_out(directory: Path) -> Path:
    target = _outside_roots(directory)
    link = directory / "link.csv"
    link.symlink_to(target)
    return link


def _excel_duplicates(directory: Path) -> Path:
    path = directory / "bad.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.append(["id", "amount", "amount", "churned"])
    sheet.append(["C1", 1.0, 2.0, 0])
    book.save(path)
    return path


def _corrupt_parquet(directory: Path) -> Path:
    path = directory / "bad.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), path)
    path.write_bytes(path.read_bytes()[:-20])
    return path


def _gzip_header_only(directory: Path) -> Path:
    path = directory / "bad.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n").encode()))
    return path


CASES: dict[str, Case] = {
    "empty file": Case(
        write("bad.csv", b""), ["file is empty (0 bytes)", "expected a header row"], check="empty"
    ),
    "whitespace only": Case(
        write("bad.csv", "\n  \n\n"), ["file is empty", "whitespace only"], check="empty"
    ),
    "header only": Case(
        write("bad.csv", HEADER + "\n"), ["header (6 columns) but no data rows"], check="empty"
    ),
    "header only, gzip": Case(_gzip_header_only, ["header (6 columns) but no data rows"], check="empty"),
    "wrong delimiter": Case(
        _semicolons,
        ["with delimiter ','", "single column", "looks ';'-delimited (6 columns", "expected delimiter ';'"],
        kwargs={"options": {"delimiter": ","}},
        check="delimiter",
    ),
    "ragged row, too few fields": Case(
        edited(replace_row(3, "C003,14.50,basic,,2024-01-04")),
        ["data row 3 has 5 field(s); expected 6 like the header", "C003,14.50"],
        check="malformed_row",
        rows=(3,),
    ),
    "ragged row, too many fields": Case(
        edited(replace_row(12, "C012,28.00,basic,,2024-01-13,0,extra")),
        ["data row 12 has 7 field(s); expected 6"],
        check="malformed_row",
        rows=(12,),
    ),
    "non-UTF-8 bytes": Case(
        _latin1,
        ["line 4, column 'plan'", "not valid UTF-8", "expected UTF-8", "'encoding'"],
        check="encoding",
    ),
    "all-null column": Case(
        edited(set_column("note", "")),
        ["column 'note' is empty in all 40 rows", "expected at least one value"],
        check="all_null",
        column="note",
    ),
    "constant target": Case(
        edited(set_column("amount", "7.25")),
        ["target column 'amount' has the single value 7.25 in all 40 rows", "expected at least two distinct"],
        target="amount",
        check="target",
        column="amount",
    ),
    "target missing": Case(
        edited(lambda lines: [line.rsplit(",", 1)[0] for line in lines]),
        ["target column 'churned' not found", "columns found: ['id', 'amount', 'plan', 'note', 'signup']"],
        check="target",
        column="churned",
    ),
    "single class": Case(
        edited(set_column("churned", "1")),
        ["target column 'churned' has a single class '1' in all 40 rows", "at least two classes"],
        check="target",
        column="churned",
    ),
    "duplicate column names": Case(
        edited(lambda lines: [lines[0].replace("note", "amount"), *lines[1:]]),
        ["duplicate column names in header", "'amount' at positions [2, 4]", "expected unique names"],
        column="amount",
    ),
    "unnamed column": Case(
        edited(lambda lines: [lines[0].replace("note", ""), *lines[1:]]),
        ["unnamed column(s) at position(s) [4]", "index=False"],
    ),
    "mixed types in a column": Case(
        edited(set_field("amount", "twelve", (7,)), set_field("amount", "n/a?", (9,))),
        [
            "column 'amount'",
            "cannot be read as numeric (float)",
            "data rows 7, 9",
            "'twelve'",
            "expected a number",
            "na_values",
        ],
        check="invalid_value",
        column="amount",
        rows=(7, 9),
    ),
    "unparseable dates": Case(
        edited(set_field("signup", "31/02/2024", (4,)), set_field("signup", "yesterday", (30,))),
        ["column 'signup'", "cannot be read as datetime", "data rows 4, 30", "'31/02/2024'", "ISO 8601"],
        kwargs={"time_column": "signup"},
        check="invalid_value",
        column="signup",
        rows=(4, 30),
    ),
    "missing target values": Case(
        edited(set_field("churned", "", (2, 4))),
        ["column 'churned' is empty in data rows 2, 4", "expected a label in every row (it is the target)"],
        check="null",
        column="churned",
        rows=(2, 4),
    ),
    "duplicate keys": Case(
        edited(set_field("id", "C002", (6, 9))),
        ["column 'id' repeats a key (id) already seen in data rows 6, 9", "first seen in data row 2"],
        kwargs={"key": "id"},
        check="duplicate_key",
        column="id",
        rows=(6, 9),
    ),
    "time column missing": Case(
        edited(), ["time column 'signed_up' not found", "columns found"], kwargs={"time_column": "signed_up"}
    ),
    "path outside the allowed roots": Case(
        _outside_roots, ["is outside the allowed roots", "MLOPS_ALLOWED_ROOTS"], check="allowed_roots"
    ),
    "symlink out of the allowed roots": Case(
        _symlink_out, ["-outside/data.csv' is outside the allowed roots"], check="allowed_roots"
    ),
    "missing file": Case(
        lambda d: d / "nope.csv", ["file does not exist", "expected a CSV file"], names_source=False
    ),
    "unknown extension": Case(write("data.dat", "a,b\n1,2\n"), ["cannot tell the format", "'.dat'"]),
    "query that fails": Case(
        _failing_query,
        ["query 'SELECT id, amount, churned FROM customerz'", "query failed: no such table: customerz"],
        check="query",
        names_source=False,
    ),
    "table that does not exist": Case(
        _missing_table,
        ["table 'customerz'", "no such table; tables found: ['customers']"],
        names_source=False,
    ),
    "invalid JSON line": Case(
        write(
            "bad.jsonl",
            "\n".join([_json_record(1, "0"), _json_record(2, "1"), _json_record(3, "0")[:-2] + "\n"]),
        ),
        ["line 3 is not valid JSON", '"churned": '],
        check="malformed_row",
        rows=(3,),
    ),
    "JSON that is not an array": Case(
        write("bad.json", '{"id": "C1", "amount": 1, "churned": 0}'), ["expected a JSON array of objects"]
    ),
    "corrupt Parquet": Case(_corrupt_parquet, ["is not a readable Parquet file"]),
    "Excel duplicate header": Case(
        _excel_duplicates, ["duplicate column names in header (sheet row 1): ['amount']"], column="amount"
    ),
    "too few rows for a holdout": Case(
        write("tiny.csv", csv_text(set_field("note", "vip", (1,))(good_lines(3)))),
        ["3 rows gave", "holdout rows", "expected at least one row on each side"],
    ),
}


def _ingest_case(
    case: Case, directory: Path, snapshots: Path, dataset: str
) -> tuple[Any, DataValidationError]:
    made = case.make(directory)
    kwargs: dict[str, Any] = {
        "dataset": dataset,
        "target": case.target,
        "snapshots_dir": snapshots,
        **case.kwargs,
    }
    if isinstance(made, dict):
        source = made.pop("source")
        kwargs.update(made)
    else:
        source = made
    with pytest.raises(DataValidationError) as caught:
        ingest(source, **kwargs)
    return source, caught.value


def _check_message(case: Case, source: Any, error: DataValidationError) -> None:
    message = str(error)
    if case.names_source:
        assert str(source) in message, message
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if case.check is not None:
        assert error.check == case.check, (error.check, message)
    if case.column is not None:
        assert error.column == case.column, (error.column, message)
    if case.rows:
        assert error.rows[: len(case.rows)] == case.rows, (error.rows, message)


def test_the_corpus_is_at_least_fifteen_inputs() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_on_an_existing_dataset_changes_nothing(
    name: str, tmp_path: Path, snapshot_tree: Callable[..., Any]
) -> None:
    case = CASES[name]
    snapshots = tmp_path / "snapshots"
    good = tmp_path / "good.csv"
    good.write_text(csv_text(good_lines()))
    dataset = f"corpus-{case.target}"
    first = ingest(
        good,
        dataset=dataset,
        target=case.target,
        snapshots_dir=snapshots,
        **{k: v for k, v in case.kwargs.items() if k in ("time_column", "key") and v in good_lines()[0]},
    )
    dataset_dir = snapshots / dataset
    before = snapshot_tree(dataset_dir)
    latest = (dataset_dir / "LATEST").read_text()

    source, error = _ingest_case(case, tmp_path, snapshots, dataset)

    _check_message(case, source, error)
    assert snapshot_tree(dataset_dir) == before, "a failed ingestion changed the dataset's directory"
    assert (dataset_dir / "LATEST").read_text() == latest
    assert load_snapshot(snapshots, dataset) == first
    staging = snapshots / ".staging"
    assert not staging.exists() or not os.listdir(staging), "a partial snapshot was left in staging"


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_on_a_fresh_dataset_creates_nothing(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    snapshots = tmp_path / "snapshots"
    source, error = _ingest_case(case, tmp_path, snapshots, "fresh")
    _check_message(case, source, error)
    assert not (snapshots / "fresh").exists()
    staging = snapshots / ".staging"
    assert not staging.exists() or not os.listdir(staging)
