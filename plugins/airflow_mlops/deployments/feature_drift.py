"""DataRobot's ``FeatureDrift.list(deployment_id, …)``: a deployment's per-feature drift by id.

It lives with deployments, not monitoring, because it must read the deployment
(its current model, drift settings and default metric) before asking
:func:`airflow_mlops.monitoring.reads.list_feature_drift` for the numbers.
"""

from __future__ import annotations

from datetime import datetime

from airflow_mlops.deployments.deployment import Deployment
from airflow_mlops.monitoring.reads import FeatureDriftResult


class FeatureDrift(FeatureDriftResult):
    """DataRobot's ``FeatureDrift``: ``FeatureDrift.list(deployment_id, ...)``, one per feature."""

    @classmethod
    def list(
        cls,
        deployment_id: str,
        model_id: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        metric: str | None = None,
        *,
        store_url: str | None = None,
    ) -> list[FeatureDriftResult]:
        deployment = Deployment.get(deployment_id, store_url=store_url)
        return deployment.get_feature_drift(
            model_id=model_id, start_time=start_time, end_time=end_time, metric=metric
        )
