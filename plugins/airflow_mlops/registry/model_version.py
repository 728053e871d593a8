"""What the registry knows about a model version that the rest of the project needs.

Deployments, the prediction server, monitoring baselines and the retraining judge
all ask the same questions of a registered version: its target, task, features
and their data types. They are answered here, from the version's MLflow tags
(written by :func:`~airflow_mlops.registry.register_model` and the custom/external
model registrations), so no higher layer reads MLflow tags by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from airflow_mlops.config import get_settings
from airflow_mlops.errors import RegistryUnavailable
from airflow_mlops.registry.mlflow_context import mlflow_stores, mlflow_unreachable
from airflow_mlops.registry.model_ref import ModelRef

#: The registry's task names → DataRobot's target types.
TARGET_TYPES = {"binary": "Binary", "multiclass": "Multiclass", "regression": "Regression"}


@dataclass(frozen=True)
class ModelVersionInfo:
    """What the registry knows about a model version that a deployment needs."""

    ref: ModelRef
    target: str
    task: str
    features: list[str]
    family: str
    run_id: str | None
    kind: str = "automl"
    status: str = "READY"
    feature_types: dict[str, str] | None = None

    @property
    def target_type(self) -> str:
        return TARGET_TYPES.get(self.task, self.task)


def model_version_info(model_id: str, *, tracking_uri: str | None = None) -> ModelVersionInfo:
    """Read a registered model version's target, task and features from its MLflow tags.

    ``LookupError`` if the registry answers that there is no such version;
    :class:`~airflow_mlops.errors.RegistryUnavailable` if the registry does not answer.
    """
    ref = ModelRef.parse(model_id)
    settings = get_settings()
    client = MlflowClient(
        tracking_uri=tracking_uri or settings.mlflow_tracking_uri, registry_uri=settings.mlflow_registry_uri
    )
    try:
        mv = client.get_model_version(ref.name, ref.version)
    except Exception as exc:  # MlflowException for an unknown name or version
        if mlflow_unreachable(exc):
            cause = str(exc)
            cause = cause if len(cause) <= 400 else cause[:400] + "..."
            raise RegistryUnavailable(
                f"the MLflow registry at {settings.mlflow_registry_uri} is unreachable "
                f"(model {ref.id!r} could not be read): {cause}"
            ) from exc
        raise LookupError(f"model {ref.id!r} is not in the MLflow registry: {exc}") from exc
    tags = dict(mv.tags or {})
    missing = [key for key in ("target", "task", "features") if key not in tags]
    if missing:
        raise ValueError(
            f"model {ref.id!r} lacks the registry tags {missing}; register it with "
            "airflow_mlops.registry.register_model so the deployment knows its target and features"
        )
    return ModelVersionInfo(
        ref=ref,
        target=tags["target"],
        task=tags["task"],
        features=list(json.loads(tags["features"])),
        family=tags.get("family", "unknown"),
        run_id=mv.run_id,
        kind=tags.get("kind", "automl"),
        status=str(mv.status or "READY"),
        feature_types=json.loads(tags["feature_types"]) if "feature_types" in tags else None,
    )


def feature_types(info: ModelVersionInfo) -> dict[str, str] | None:
    """Feature → data type, from the registry tag or the model's MLflow signature (None if neither)."""
    if info.feature_types is not None:
        return info.feature_types
    try:
        import mlflow

        settings = get_settings()
        with mlflow_stores(settings.mlflow_tracking_uri, settings.mlflow_registry_uri):
            signature = mlflow.models.get_model_info(info.ref.uri).signature
    except Exception:  # no signature to read: the caller reports a warning
        return None
    if signature is None or signature.inputs is None:
        return None
    return {spec.name: str(spec.type) for spec in signature.inputs.inputs if spec.name}
