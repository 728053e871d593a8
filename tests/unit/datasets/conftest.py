"""Shared fixtures of the dataset tests.

The system temp directory is not an allowed ingestion root by default (see
``airflow_mlops.datasets.roots``), so every test allows exactly its own
``tmp_path`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_mlops.datasets import make_churn

Tree = dict[str, tuple[int, int]]


@pytest.fixture(autouse=True)
def allow_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLOPS_ALLOWED_ROOTS", str(tmp_path))
    return tmp_path


@pytest.fixture
def churn_csv(tmp_path: Path) -> Path:
    """1000 synthetic churn rows (ids, numbers with some missing, categories, a timestamp, 0/1 target)."""
    path = tmp_path / "churn.csv"
    make_churn(1000, seed=3).to_csv(path, index=False)
    return path


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    return tmp_path / "snapshots"


def tree(root: Path, *, dir_mtimes: bool = True) -> Tree:
    """Every path under ``root`` (staging excluded) with (inode, mtime_ns): any rewrite changes one.

    A directory's mtime also changes when a temporary entry was created and
    removed in it; ``dir_mtimes=False`` ignores that.
    """
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns if dir_mtimes or p.is_file() else 0)
        for p in sorted(root.rglob("*"))
        if ".staging" not in p.relative_to(root).parts
    }


@pytest.fixture
def snapshot_tree() -> Callable[..., Tree]:
    return tree
