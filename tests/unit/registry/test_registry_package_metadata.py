"""The kind a version's tags record: absent means an AutoML pipeline, unknown is refused."""

from __future__ import annotations

import pytest

from airflow_mlops.registry import MODEL_KINDS, model_kind


def test_model_kind() -> None:
    assert MODEL_KINDS == ("automl", "custom", "external")
    assert model_kind({}) == "automl"  # versions from register_model carry no kind tag
    assert model_kind({"target": "churned", "family": "linear"}) == "automl"
    assert model_kind({"kind": "custom"}) == "custom"
    assert model_kind({"kind": "external"}) == "external"
    with pytest.raises(ValueError, match="unknown model kind 'onnx'"):
        model_kind({"kind": "onnx"})
