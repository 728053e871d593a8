"""The auth epoch moves with every change a cached token or role could miss, and only then."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import RegisteredModels


def test_the_auth_epoch_moves_with_each_revocation_and_role_change(models: RegisteredModels) -> None:
    from airflow_mlops.config import get_settings
    from airflow_mlops.deployments import Deployment
    from airflow_mlops.security import create_token, revoke_token
    from airflow_mlops.store import read_auth_epoch

    url = get_settings().store_url
    start = read_auth_epoch(url)
    info, _token = create_token(url, user="ann")
    assert read_auth_epoch(url) == start  # a new token invalidates nothing cached
    revoke_token(url, info.id)
    assert read_auth_epoch(url) == start + 1
    revoke_token(url, info.id)  # already revoked: nothing changed
    assert read_auth_epoch(url) == start + 1
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "epoch")
    deployment.share("bob", "CONSUMER")
    assert read_auth_epoch(url) == start + 2
    deployment.unshare("bob")
    assert read_auth_epoch(url) == start + 3
    deployment.delete()
    assert read_auth_epoch(url) == start + 4
