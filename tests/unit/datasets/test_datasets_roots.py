"""Local paths are only read under the allowed roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlops.datasets import SourceError, allowed_roots, open_source
from airflow_mlops.datasets.roots import check_allowed


def test_defaults_are_mlops_home_and_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_ALLOWED_ROOTS")
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "..")
    assert allowed_roots() == [(tmp_path / "home").resolve(), (tmp_path / "..").resolve()]
    monkeypatch.chdir(tmp_path / "home" if (tmp_path / "home").mkdir() is None else tmp_path)
    with pytest.raises(SourceError, match="outside the allowed roots"):
        check_allowed(tmp_path / "data.csv")  # the temp directory is not a default root


def test_the_environment_lists_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_ALLOWED_ROOTS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert check_allowed(tmp_path / "b" / "x.csv") == (tmp_path / "b" / "x.csv").resolve()
    with pytest.raises(SourceError) as caught:
        check_allowed(tmp_path / "a" / ".." / "c" / "x.csv")
    assert (
        f"'{tmp_path / 'c' / 'x.csv'}' is outside the allowed roots [{tmp_path / 'a'}, {tmp_path / 'b'}]"
        in str(caught.value)
    )


def test_file_urls_and_symlinks_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text("a,b\n1,2\n")
    (inside / "link.csv").symlink_to(outside / "secret.csv")
    monkeypatch.setenv("MLOPS_ALLOWED_ROOTS", str(inside))
    with pytest.raises(SourceError, match="outside the allowed roots"):
        open_source((outside / "secret.csv").as_uri())
    with pytest.raises(SourceError, match=r"secret\.csv' is outside"):
        open_source(inside / "link.csv")
    assert (
        open_source("memory://bucket/any.csv").label == "memory://bucket/any.csv"
    )  # remote: credentials decide
    assert open_source(inside / "x.csv", allowed_roots=[inside]).label == str(inside / "x.csv")
