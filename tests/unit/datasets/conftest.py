"""Dataset tests read files from their own temporary directories.

The system temp directory is not an allowed ingestion root by default (see
``airflow_mlops.datasets.roots``), so every test allows exactly its own
``tmp_path`` and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def allow_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLOPS_ALLOWED_ROOTS", str(tmp_path))
    return tmp_path
