"""Study storage: journal files shared by processes, and recovery of trials whose worker died."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalStorage
from optuna.trial import TrialState

from airflow_mlops.automl import default_storage, get_mode, open_storage, recover_interrupted_trials
from airflow_mlops.automl.storage import RETRY_OF, STORAGE_ENV


def test_paths_are_journals_and_urls_are_databases(tmp_path: Path) -> None:
    assert open_storage(None) is None
    journal = open_storage(str(tmp_path / "deep" / "journal.log"))
    assert isinstance(journal, JournalStorage) and (tmp_path / "deep").is_dir()
    assert isinstance(open_storage(f"sqlite:///{tmp_path}/optuna.db"), RDBStorage)


def test_default_storage_is_a_journal_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    assert default_storage(tmp_path) == str(tmp_path / "optuna" / "journal.log")
    monkeypatch.setenv(STORAGE_ENV, "postgresql://optuna@db/optuna")
    assert default_storage(tmp_path) == "postgresql://optuna@db/optuna"


def test_interrupted_trials_fail_and_run_again_once(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "journal.log"))
    study = optuna.create_study(storage=storage, study_name="s")
    done = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(done, 0.5)
    orphan = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})  # its worker "died"

    assert recover_interrupted_trials(study) == [orphan.number]
    trials = study.get_trials()
    assert trials[done.number].state == TrialState.COMPLETE, "completed work is never touched"
    assert trials[orphan.number].state == TrialState.FAIL
    assert trials[orphan.number].user_attrs["interrupted"] is True
    retry = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert retry.params == orphan.params and retry.user_attrs[RETRY_OF] == orphan.number
    # The retry dies too: it is failed, but not queued a third time.
    assert recover_interrupted_trials(study) == [retry.number]
    assert not study.get_trials(states=(TrialState.WAITING,))


def test_unknown_mode_lists_valid_ones() -> None:
    assert get_mode("quick").n_trials < get_mode("auto").n_trials < get_mode("comprehensive").n_trials
    with pytest.raises(
        ValueError, match="mode='fast' is not valid; expected one of 'quick', 'auto', 'comprehensive'"
    ):
        get_mode("fast")
