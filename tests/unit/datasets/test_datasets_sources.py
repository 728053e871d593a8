"""Every file source: CSV dialects and encodings detected or set, Parquet, JSON, JSON Lines, Excel, object storage."""

from __future__ import annotations

import gzip
import logging
import re
import uuid
from datetime import datetime
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

from airflow_mlops.datasets import DataValidationError, Snapshot, SourceError, ingest, open_source
from airflow_mlops.datasets.sources import CsvSource


def _frame(n: int = 60) -> pd.DataFrame:
    """Ints, floats with a gap, text with delimiters and quotes in it, a naive timestamp, booleans, 0/1."""
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "id": [f"R{i:04d}" for i in range(n)],
            "count": rng.integers(0, 50, n),
            "amount": np.where(np.arange(n) % 9 == 4, np.nan, np.round(rng.normal(100, 20, n), 2)),
            "comment": [f'says "hi", then; {i}|x' if i % 5 == 0 else f"plain {i % 4}" for i in range(n)],
            "when": pd.date_range("2024-03-01", periods=n, freq="h"),
            "flag": [bool(i % 3) for i in range(n)],
            "label": [i % 2 for i in range(n)],
        }
    )


def _ingest(source: object, snapshots: Path, **kwargs: object) -> Snapshot:
    return ingest(source, dataset="data", target="label", snapshots_dir=snapshots, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def reference(tmp_path: Path) -> pd.DataFrame:
    """The training rows of the frame ingested from a plain comma-separated CSV."""
    path = tmp_path / "plain.csv"
    _frame().to_csv(path, index=False)
    snap = _ingest(path, tmp_path / "reference")
    return snap.train_frame()


# --- every format --------------------------------------------------------------------------------


def test_every_file_format_gives_the_same_rows(tmp_path: Path, reference: pd.DataFrame) -> None:
    frame = _frame()
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    frame.to_json(tmp_path / "d.json", orient="records", date_format="iso", date_unit="s", indent=1)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True, date_format="iso", date_unit="s")
    frame.to_excel(tmp_path / "d.xlsx", index=False, sheet_name="Data")
    for name in ("d.parquet", "d.json", "d.jsonl", "d.xlsx"):
        snap = _ingest(tmp_path / name, tmp_path / name.replace(".", "_"))
        pd.testing.assert_frame_equal(snap.train_frame(), reference, obj=name)
        assert snap.meta()["source_info"]["format"] == name.split(".")[1]


# --- CSV (csv_reader) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "quotechar"), [(",", '"'), (";", '"'), ("\t", '"'), ("|", '"'), (";", "'")]
)
def test_csv_dialect_is_detected(
    delimiter: str, quotechar: str, tmp_path: Path, reference: pd.DataFrame
) -> None:
    path = tmp_path / "dialect.csv"
    _frame().to_csv(path, index=False, sep=delimiter, quotechar=quotechar)
    snap = _ingest(path, tmp_path / "s")
    dialect = snap.meta()["source_info"]["dialect"]
    assert (dialect["delimiter"], dialect["quotechar"]) == (delimiter, quotechar)
    pd.testing.assert_frame_equal(snap.train_frame(), reference)


def test_csv_dialect_can_be_set(tmp_path: Path, reference: pd.DataFrame) -> None:
    path = tmp_path / "set.txt"
    _frame().to_csv(path, index=False, sep="|", quotechar="'")
    snap = _ingest(path, tmp_path / "s", options={"delimiter": "|", "quotechar": "'"})
    pd.testing.assert_frame_equal(snap.train_frame(), reference)


def test_quoted_newlines_and_escaped_quotes(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    rows = ["id,text,label"] + [f'{i},"line one\nline ""two"", {i}",{i % 2}' for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    snap = _ingest(path, tmp_path / "s", holdout_fraction=0.25)
    frame = pd.concat([snap.train_frame(), snap.holdout_frame()]).sort_values("id")
    assert frame["text"].iloc[3] == 'line one\nline "two", 3'


@pytest.mark.parametrize(
    ("encoding", "options"),
    [("utf-8-sig", {}), ("utf-16", {}), ("latin-1", {}), ("latin-1", {"encoding": "latin-1"})],
)
def test_encodings(encoding: str, options: dict[str, str], tmp_path: Path) -> None:
    frame = pd.DataFrame({"ville": ["Orléans", "Besançon", "Zürich", "Malmö"] * 5, "label": [0, 1] * 10})
    path = tmp_path / f"{encoding}.csv"
    frame.to_csv(path, index=False, encoding=encoding)
    snap = _ingest(path, tmp_path / "s", options=options)
    assert list(snap.train_frame().columns) == ["ville", "label"]  # no byte-order mark in the first name
    assert set(snap.train_frame()["ville"]) | set(snap.holdout_frame()["ville"]) == set(frame["ville"])


def test_compressed_csv(tmp_path: Path, reference: pd.DataFrame) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(_frame().to_csv(index=False).encode()))
    pd.testing.assert_frame_equal(_ingest(path, tmp_path / "s").train_frame(), reference)


def test_ragged_rows_are_quarantined_and_later_rows_keep_their_numbers(tmp_path: Path) -> None:
    """Across many small blocks, every row keeps its true number once ragged rows are skipped."""
    lines = ["id,value,label"]
    ragged, invalid = set(), set()
    for row in range(1, 3001):
        if row % 97 == 0:
            lines.append(f"{row},{row}")
            ragged.add(row)
        elif row % 101 == 0:
            lines.append(f"{row},bad{row},{row % 2}")
            invalid.add(row)
        else:
            lines.append(f"{row},{row * 0.5},{row % 2}")
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    snap = _ingest(path, tmp_path / "s", policy="quarantine", options={"block_size": 4096})
    quarantined = snap.quarantine_frame()
    by_check = quarantined.groupby("_check")["_row"].apply(set).to_dict()
    assert by_check == {"malformed_row": ragged, "invalid_value": invalid}
    bad = quarantined[quarantined["_check"] == "invalid_value"].set_index("_row")
    assert bad.loc[101, "value"] == "bad101"
    assert (
        "column 'value'" in bad.loc[101, "_reason"] and "expected a finite number" in bad.loc[101, "_reason"]
    )
    assert quarantined.set_index("_row").loc[97, "_raw"] == "97,97"
    kept = pd.concat([snap.train_frame(), snap.holdout_frame()])
    assert len(kept) == 3000 - len(ragged) - len(invalid)
    assert (kept["value"] == kept["id"] * 0.5).all()  # no row was shifted onto another's number


def test_progress_is_logged_for_long_sources(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "long.csv"
    _frame(3000).to_csv(path, index=False)
    with caplog.at_level(logging.INFO, logger="airflow_mlops.datasets"):
        _ingest(path, tmp_path / "s", options={"block_size": 8192})
    progress = [r.getMessage() for r in caplog.records if "rows read" in r.getMessage()]
    assert progress, "no progress line for a source read in many chunks"
    assert "%" in progress[0] and "rows/s" in progress[0]


# --- JSON and JSON Lines (json_readers) ----------------------------------------------------------


def test_a_large_json_array_streams_across_read_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlops.datasets.sources import json_readers

    monkeypatch.setattr(json_readers, "READ_BLOCK", 257)  # records straddle block boundaries
    frame = _frame(300)
    frame.to_json(tmp_path / "big.json", orient="records", date_format="iso", date_unit="s")
    snap = _ingest(tmp_path / "big.json", tmp_path / "s", chunk_rows=64)
    assert snap.n_train + snap.n_holdout == 300


def test_json_records_with_new_keys_or_not_objects_are_malformed(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    lines = [f'{{"id": {i}, "x": {i * 1.5}, "label": {i % 2}}}' for i in range(1, 31)]
    lines[19] = '{"id": 20, "x": 1.0, "label": 0, "surprise": true}'
    lines[24] = "[1, 2, 3]"
    path.write_text("\n".join(lines) + "\n")
    # The columns are the keys of the first chunk's records (10 here); line 20 comes later.
    with pytest.raises(DataValidationError, match=r"line 20 has key\(s\) \['surprise'\]"):
        _ingest(path, tmp_path / "a", chunk_rows=10)
    snap = _ingest(path, tmp_path / "b", checks={"malformed_row": "quarantine"}, chunk_rows=10)
    quarantined = snap.quarantine_frame().set_index("_row")
    assert sorted(quarantined.index) == [20, 25]
    assert "is not an object" in quarantined.loc[25, "_reason"]
    assert snap.n_train + snap.n_holdout == 28


# --- Excel (excel_reader) ------------------------------------------------------------------------


def test_excel_sheet_by_name_and_a_missing_sheet(tmp_path: Path, reference: pd.DataFrame) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"notes": ["not this one"]}).to_excel(writer, sheet_name="Readme", index=False)
        _frame().to_excel(writer, sheet_name="Data", index=False)
    pd.testing.assert_frame_equal(
        _ingest(path, tmp_path / "a", options={"sheet": "Data"}).train_frame(), reference
    )
    pd.testing.assert_frame_equal(
        _ingest(path, tmp_path / "b", options={"sheet": 1}).train_frame(), reference
    )
    with pytest.raises(DataValidationError, match=r"has no sheet 'Dtaa'; sheets found: \['Readme', 'Data'\]"):
        _ingest(path, tmp_path / "c", options={"sheet": "Dtaa"})


def test_excel_blank_rows_are_skipped_and_row_numbers_are_sheet_rows(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["id", "value", "label"])
    for i in range(1, 21):
        sheet.append([f"R{i}", "oops" if i == 10 else float(i), i % 2])
        if i == 5:
            sheet.append([None, None, None])
    path = tmp_path / "rows.xlsx"
    book.save(path)
    with pytest.raises(DataValidationError, match=r"column 'value'.*sheet row 12 \(e\.g\. 'oops'\)"):
        _ingest(path, tmp_path / "s")


def test_naive_excel_datetimes_are_utc(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["when", "x", "label"])
    for i in range(10):
        sheet.append([datetime(2024, 5, 1, i), float(i), i % 2])
    path = tmp_path / "times.xlsx"
    book.save(path)
    snap = _ingest(path, tmp_path / "s", time_column="when")
    assert str(snap.holdout_frame()["when"].dt.tz) == "UTC"
    assert snap.holdout_frame()["when"].min() == pd.Timestamp("2024-05-01 08:00", tz="UTC")


# --- opening a source: the registry and filesystems (registry, files) ----------------------------


def test_object_store_urls_through_fsspec(tmp_path: Path, reference: pd.DataFrame) -> None:
    fs = fsspec.filesystem("memory")
    bucket = f"bucket-{uuid.uuid4().hex}"
    fs.pipe(f"/{bucket}/in/data.csv", _frame().to_csv(index=False).encode())
    fs.pipe(f"/{bucket}/in/data.parquet", _frame().to_parquet(index=False))
    try:
        for name in ("data.csv", "data.parquet"):
            snap = _ingest(f"memory://{bucket}/in/{name}", tmp_path / name.replace(".", "_"))
            pd.testing.assert_frame_equal(snap.train_frame(), reference)
            assert snap.meta()["source"] == f"memory://{bucket}/in/{name}"
        with pytest.raises(DataValidationError, match=rf"memory://{bucket}/in/nope.csv: file does not exist"):
            _ingest(f"memory://{bucket}/in/nope.csv", tmp_path / "missing")
    finally:
        fs.rm(f"/{bucket}", recursive=True)


def test_file_urls_are_local_paths(tmp_path: Path, reference: pd.DataFrame) -> None:
    path = tmp_path / "local.csv"
    _frame().to_csv(path, index=False)
    snap = _ingest(path.as_uri(), tmp_path / "s")
    pd.testing.assert_frame_equal(snap.train_frame(), reference)


def test_airflow_object_storage_path(tmp_path: Path, reference: pd.DataFrame) -> None:
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    fs = fsspec.filesystem("memory")
    attach("memory", fs=fs)  # Airflow registers only provider filesystems; memory is attached by hand
    bucket = f"bucket-{uuid.uuid4().hex}"
    fs.pipe(
        f"/{bucket}/data.jsonl", _frame().to_json(orient="records", lines=True, date_format="iso").encode()
    )
    try:
        snap = _ingest(ObjectStoragePath(f"memory://{bucket}/data.jsonl"), tmp_path / "s")
        pd.testing.assert_frame_equal(snap.train_frame(), reference)
        assert snap.meta()["source"] == f"memory://{bucket}/data.jsonl"
    finally:
        fs.rm(f"/{bucket}", recursive=True)
    # A local ObjectStoragePath is read like a local path: under the allowed roots only.
    local = ObjectStoragePath((tmp_path / "plain.csv").as_uri())
    snap = _ingest(local, tmp_path / "t")
    pd.testing.assert_frame_equal(snap.train_frame(), reference)
    assert snap.meta()["source"] == str(local)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    _frame().to_csv(outside / "plain.csv", index=False)
    with pytest.raises(
        SourceError, match=re.escape(f"'{outside / 'plain.csv'}' is outside the allowed roots")
    ):
        _ingest(ObjectStoragePath((outside / "plain.csv").as_uri()), tmp_path / "u")


def test_format_can_be_named_for_a_file_without_extension(tmp_path: Path, reference: pd.DataFrame) -> None:
    path = tmp_path / "export"
    _frame().to_csv(path, index=False)
    pd.testing.assert_frame_equal(_ingest(path, tmp_path / "s", format="csv").train_frame(), reference)


def test_reader_options_are_validated_per_format(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    _frame().to_parquet(path)
    with pytest.raises(
        ValueError, match=r"unknown option\(s\) \['delimiter'\] for format 'parquet'; valid options: none"
    ):
        open_source(path, options={"delimiter": ";"})
    with pytest.raises(ValueError, match=r"delimiter must be one character, got ';;'"):
        CsvSource(fsspec.filesystem("file"), str(path), label=str(path), options={"delimiter": ";;"})
    with pytest.raises(
        ValueError, match=r"format must be one of \['csv', 'json', 'jsonl', 'parquet', 'xlsx'\]"
    ):
        open_source(path, format="feather")
