"""Storage roots: a Path for local values, a UPath for fsspec URLs, and atomic writes on both."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
from upath import UPath

from airflow_mlops.storage import (
    parquet_bytes,
    parquet_file,
    read_parquet,
    relative_key,
    storage_root,
    write_bytes_atomic,
)


def test_local_values_stay_plain_paths_and_urls_become_upaths(tmp_path: Path) -> None:
    assert storage_root(str(tmp_path)) == tmp_path and type(storage_root(str(tmp_path))) is type(tmp_path)
    assert storage_root(tmp_path / "x") == tmp_path / "x"
    assert storage_root(f"file://{tmp_path}/y") == tmp_path / "y"
    remote = storage_root("memory://bucket/prefix/")
    assert isinstance(remote, UPath) and str(remote) == "memory://bucket/prefix"
    # A UPath the caller built keeps its own options (endpoint, credentials, ...).
    mine = UPath("s3://bucket/prefix", anon=True)
    assert storage_root(mine) is mine


def test_atomic_writes_and_parquet_reads_on_local_and_memory_roots(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    for root in (tmp_path, storage_root(f"memory://mlops-{uuid.uuid4().hex}")):
        path = root / "deployment=d" / "hour=20240101T10" / "part-1.parquet"
        write_bytes_atomic(path, parquet_bytes(table))
        assert read_parquet(path).equals(table)
        assert parquet_file(path).metadata.num_rows == 3
        assert relative_key(path, root) == "deployment=d/hour=20240101T10/part-1.parquet"
        write_bytes_atomic(root / "LATEST", b"v1\n")
        write_bytes_atomic(root / "LATEST", b"v2\n")
        assert (root / "LATEST").read_text() == "v2\n"
        names = sorted(p.name for p in root.iterdir())
        assert names == ["LATEST", "deployment=d"], names  # no temporary file left behind


def test_parquet_file_reads_chosen_text_columns_as_dictionaries(tmp_path: Path) -> None:
    table = pa.table({"f.plan": ["a", None, "b", "a"], "f.n": [1, 2, 3, 4], "row_id": ["1", "2", "3", "4"]})
    for root in (tmp_path, storage_root(f"memory://mlops-{uuid.uuid4().hex}")):
        path = root / "part-1.parquet"
        write_bytes_atomic(path, parquet_bytes(table))
        read = parquet_file(path, text_as_dictionary=lambda name: name.startswith("f.")).read()
        assert pa.types.is_dictionary(read.schema.field("f.plan").type)
        assert read.schema.field("row_id").type == pa.string()  # not chosen
        assert read.schema.field("f.n").type == pa.int64()  # not text
        assert read.column("f.plan").to_pylist() == ["a", None, "b", "a"]
        assert parquet_file(path).read().equals(table)
