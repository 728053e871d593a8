from __future__ import annotations

import pytest

from airflow_mlops.deployments import ModelRef


@pytest.mark.parametrize("text", ["churn/3", "models:/churn/3"])
def test_parse(text: str) -> None:
    ref = ModelRef.parse(text)
    assert (ref.name, ref.version, ref.id, ref.uri) == ("churn", "3", "churn/3", "models:/churn/3")


def test_names_with_slashes_keep_them() -> None:
    assert ModelRef.parse("team/churn/12") == ModelRef("team/churn", "12")


@pytest.mark.parametrize("bad", ["churn", "churn/", "/3", "churn/latest", ""])
def test_bad_ids_are_explained(bad: str) -> None:
    with pytest.raises(ValueError, match="expected '<registered model name>/<version>'") as info:
        ModelRef.parse(bad)
    assert repr(bad) in str(info.value)
