"""``GET /api/v2/version/``: the first call the official ``datarobot`` client makes.

The client refuses to go on without ``versionString`` and warns when its
major/minor is below what it was built for, so we answer the API version our
shapes follow (DataRobot 2.x; the minor the pinned client expects).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from airflow_mlops.api.auth import Caller
from airflow_mlops.api.errors import ERRORS, error

#: The DataRobot public API version whose shapes this server follows.
API_VERSION = (2, 49)


def build_version_router(product_version: str) -> APIRouter:
    router = APIRouter(prefix="/api/v2", tags=["version"], responses=ERRORS)

    @router.get(
        "/version/",
        summary="The API version (what the DataRobot client checks first)",
        responses={401: error("No valid token: the client reports it before anything else")},
    )
    async def version(_principal: Caller) -> dict[str, Any]:
        major, minor = API_VERSION
        return {
            "major": major,
            "minor": minor,
            "versionString": f"{major}.{minor}.0",
            "releasedVersion": f"airflow-mlops {product_version}",
        }

    return router
