"""The bad-input corpus: every broken source gets an error naming the source, row, column and expectation.

Each case states the exact error it must raise: its class, ``check``,
``column`` and ``rows`` attributes, how the message names the source (the
file's path, or the query or table), the rows in the source's own words
("data rows 7, 9", "line 3"), the column, and what was expected (or the
valid values, e.g. the columns found).

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

from airflow_mlops.datasets import DataValidationError, SourceError, ingest, load_snapshot
from airflow_mlops.datasets.sources import rows_text

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
    """A broken source: how to make it, how to ingest it, and the exact error it must raise.

    ``error``, ``check``, ``column`` and ``rows`` are the error's class and
    attributes, compared exactly (``None`` and ``()`` mean the error must not
    name a check, column or rows). ``expected`` is the part of the message
    saying what was expected or listing the valid values; ``fragments`` are
    further facts it must state (the bad value, the hint). The message must
    start with the source's path, or contain ``where`` for a database source.
    """

    make: Callable[[Path], Any]
    error: type[DataValidationError]
    check: str | None
    expected: str
    fragments: list[str] = field(default_factory=list)
    column: str | None = None
    rows: tuple[int, ...] = ()
    row_word: str = "data row"
    where: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    target: str = "churned"


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


def _stray_latin1_byte(directory: Path) -> Path:
    """UTF-8 text with one Latin-1 byte in it: no single encoding explains the file (a Latin-1 file is detected)."""
    path = directory / "mixed.csv"
    lines = set_field("note", "d\xe9j\xe0 vu", (5, 6, 8))(set_field("plan", "caf\udce9", (3,))(good_lines()))
    path.write_bytes(csv_text(lines).encode("utf-8", errors="surrogateescape"))
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


V = DataValidationError
S = SourceError
CASES: dict[str, Case] = {
    "empty file": Case(
        write("bad.csv", b""),
        S,
        "empty",
        "expected a header row and at least one data row",
        ["file is empty (0 bytes)"],
    ),
    "whitespace only": Case(
        write("bad.csv", "\n  \n\n"),
        S,
        "empty",
        "expected a header row and at least one data row",
        ["file is empty (5 bytes, whitespace only)"],
    ),
    "header only": Case(
        write("bad.csv", HEADER + "\n"),
        V,
        "empty",
        "expected at least one data row",
        ["has a header (6 columns) but no data rows"],
    ),
    "header only, gzip": Case(
        _gzip_header_only,
        V,
        "empty",
        "expected at least one data row",
        ["has a header (6 columns) but no data rows"],
    ),
    "wrong delimiter": Case(
        _semicolons,
        S,
        "delimiter",
        "expected delimiter ';'",
        [
            "with delimiter ','",
            "single column 'id;amount;plan;note;signup;churned'",
            "looks ';'-delimited (6 columns",
            "options={'delimiter': ';'}",
        ],
        kwargs={"options": {"delimiter": ","}},
    ),
    "ragged row, too few fields": Case(
        edited(replace_row(3, "C003,14.50,basic,,2024-01-04")),
        V,
        "malformed_row",
        "expected 6 like the header",
        ["data row 3 has 5 field(s)", "'C003,14.50,basic,,2024-01-04'"],
        rows=(3,),
    ),
    "ragged row, too many fields": Case(
        edited(replace_row(12, "C012,28.00,basic,,2024-01-13,0,extra")),
        V,
        "malformed_row",
        "expected 6 like the header",
        ["data row 12 has 7 field(s)", "'C012,28.00,basic,,2024-01-13,0,extra'"],
        rows=(12,),
    ),
    "bytes no encoding explains": Case(
        _stray_latin1_byte,
        S,
        "encoding",
        "expected UTF-8 text",
        ["line 4, column 'plan'", "bytes b'\\xe9' are not valid UTF-8", "options={'encoding': 'latin-1'}"],
        column="plan",
    ),
    "all-null column": Case(
        edited(set_column("note", "")),
        V,
        "all_null",
        "expected at least one value",
        ["column 'note' is empty in all 40 rows"],
        column="note",
    ),
    "constant target": Case(
        edited(set_column("amount", "7.25")),
        V,
        "target",
        "expected at least two distinct values",
        ["target column 'amount' has the single value 7.25 in all 40 rows"],
        target="amount",
        column="amount",
    ),
    "target missing": Case(
        edited(lambda lines: [line.rsplit(",", 1)[0] for line in lines]),
        V,
        "target",
        "columns found: ['id', 'amount', 'plan', 'note', 'signup']",
        ["target column 'churned' not found"],
        column="churned",
    ),
    "single class": Case(
        edited(set_column("churned", "1")),
        V,
        "target",
        "expected at least two classes to learn from",
        ["target column 'churned' has a single class '1' in all 40 rows"],
        column="churned",
    ),
    "duplicate column names": Case(
        edited(lambda lines: [lines[0].replace("note", "amount"), *lines[1:]]),
        S,
        "header",
        "expected unique names",
        ["duplicate column names in header", "'amount' at positions [2, 4]"],
        column="amount",
    ),
    "unnamed column": Case(
        edited(lambda lines: [lines[0].replace("note", ""), *lines[1:]]),
        S,
        "header",
        "expected every column to have a name",
        ["unnamed column(s) at position(s) [4]", "index=False"],
    ),
    "mixed types in a column": Case(
        edited(set_field("amount", "twelve", (7,)), set_field("amount", "n/a?", (9,))),
        V,
        "invalid_value",
        "expected a finite number",
        ["column 'amount'", "cannot be read as numeric (float)", "'twelve', 'n/a?'", "na_values"],
        column="amount",
        rows=(7, 9),
    ),
    "infinite numbers": Case(
        edited(set_field("amount", "inf", (5,)), set_field("amount", "-Infinity", (11,))),
        V,
        "invalid_value",
        "expected a finite number",
        ["column 'amount'", "cannot be read as numeric (float)", "'inf', '-Infinity'"],
        column="amount",
        rows=(5, 11),
    ),
    "unparseable dates": Case(
        edited(set_field("signup", "31/02/2024", (4,)), set_field("signup", "yesterday", (30,))),
        V,
        "invalid_value",
        "expected an ISO 8601 timestamp",
        ["column 'signup'", "cannot be read as datetime", "'31/02/2024', 'yesterday'"],
        column="signup",
        rows=(4, 30),
        kwargs={"time_column": "signup"},
    ),
    "missing target values": Case(
        edited(set_field("churned", "", (2, 4))),
        V,
        "null",
        "expected a label in every row (it is the target)",
        ["column 'churned' is empty in data rows 2, 4"],
        column="churned",
        rows=(2, 4),
    ),
    "duplicate keys": Case(
        edited(set_field("id", "C002", (6, 9))),
        V,
        "duplicate_key",
        "expected each key once (first seen in data row 2)",
        ["column 'id' repeats a key (id) already seen in data rows 6, 9", "'C002'"],
        column="id",
        rows=(6, 9),
        kwargs={"key": "id"},
    ),
    "time column missing": Case(
        edited(),
        V,
        "time_column",
        "columns found: ['id', 'amount', 'plan', 'note', 'signup', 'churned']",
        ["time column 'signed_up' not found"],
        column="signed_up",
        kwargs={"time_column": "signed_up"},
    ),
    "path outside the allowed roots": Case(
        _outside_roots,
        S,
        "allowed_roots",
        "expected a file under one of them",
        ["-outside/data.csv' is outside the allowed roots", "MLOPS_ALLOWED_ROOTS"],
    ),
    "symlink out of the allowed roots": Case(
        _symlink_out,
        S,
        "allowed_roots",
        "expected a file under one of them",
        ["-outside/data.csv' is outside the allowed roots"],
    ),
    "missing file": Case(lambda d: d / "nope.csv", S, None, "expected a CSV file", ["file does not exist"]),
    "unknown extension": Case(
        write("data.dat", "a,b\n1,2\n"),
        S,
        None,
        "expected one of ['.csv', '.json', '.jsonl', '.ndjson', '.parquet', '.pq', '.tsv', '.txt', '.xlsm', "
        "'.xlsx'] or an explicit format (one of ['csv', 'json', 'jsonl', 'parquet', 'xlsx'])",
        ["cannot tell the format from the extension '.dat'"],
    ),
    "query that fails": Case(
        _failing_query,
        S,
        "query",
        "expected a query that runs and returns rows",
        ["query failed: no such table: customerz"],
        where="query 'SELECT id, amount, churned FROM customerz'",
    ),
    "table that does not exist": Case(
        _missing_table,
        S,
        None,
        "tables found: ['customers']",
        ["no such table"],
        where="table 'customerz'",
    ),
    "invalid JSON line": Case(
        write(
            "bad.jsonl",
            "\n".join([_json_record(1, "0"), _json_record(2, "1"), _json_record(3, "0")[:-2] + "\n"]),
        ),
        V,
        "malformed_row",
        "expected one JSON object per line",
        ["line 3 is not valid JSON (Expecting value)", '"churned": '],
        rows=(3,),
        row_word="line",
    ),
    "JSON that is not an array": Case(
        write("bad.json", '{"id": "C1", "amount": 1, "churned": 0}'),
        V,
        None,
        "expected a JSON array of objects",
        ['starts with \'{"id": "C1", "amount\'', "JSON Lines, .jsonl"],
    ),
    "corrupt Parquet": Case(
        _corrupt_parquet, V, None, "expected a Parquet file", ["is not a readable Parquet file"]
    ),
    "Excel duplicate header": Case(
        _excel_duplicates,
        V,
        "header",
        "expected unique names",
        ["duplicate column names in header (sheet row 1): ['amount']"],
        column="amount",
    ),
    "too few rows for a holdout": Case(
        write("tiny.csv", csv_text(set_field("note", "vip", (1,))(good_lines(3)))),
        V,
        None,
        "expected at least one row on each side",
        ["3 rows gave 3 training and 0 holdout rows with holdout_fraction 0.2"],
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
    assert type(error) is case.error, (type(error).__name__, message)
    if case.where is None:
        assert message.startswith(f"{source}: "), message
        assert error.source == str(source), (error.source, message)
    else:
        assert case.where in message, message
        assert error.source is not None and case.where in error.source, (error.source, message)
    assert (error.check, error.column, error.rows) == (case.check, case.column, case.rows), message
    if case.column is not None:
        assert repr(case.column) in message, message
    if case.rows:
        assert rows_text(case.row_word, case.rows) in message, message
    assert case.expected in message, f"{case.expected!r} not in {message!r}"
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


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
