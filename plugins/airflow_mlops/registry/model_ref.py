"""How a model version is named across the project: ``<registered model>/<version>``.

DataRobot passes a single ``model_id`` string to ``replace_model``; ours is the
MLflow registered model name and version joined by a slash (``models:/`` URIs
are accepted too), so one string finds the artifact in any MLflow registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str

    @property
    def id(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def parse(cls, model_id: str) -> ModelRef:
        text = model_id.removeprefix("models:/")
        name, _, version = text.rpartition("/")
        if not name or not version.isdigit():
            raise ValueError(
                f"model_id={model_id!r} is not a model version id; expected '<registered model name>/<version>' "
                "such as 'churn/3' (or 'models:/churn/3')"
            )
        return cls(name=name, version=version)
