"""DataRobot's list shape, ``{count, totalCount, next, previous, data}``, shared by every router.

A leaf module, so routers that page (deployments, sharing, monitoring) import it
without importing each other. The official client follows ``next`` until it is
null, so ``next`` is always present.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

__all__ = ["page"]


def page(request: Request, items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    """One page of ``items`` with DataRobot's links to the next and previous pages."""
    chunk = items[offset : offset + limit]

    def link(start: int) -> str:
        return str(request.url.include_query_params(offset=start, limit=limit))

    return {
        "count": len(chunk),
        "totalCount": len(items),
        "next": link(offset + limit) if offset + limit < len(items) else None,
        "previous": link(max(offset - limit, 0)) if offset > 0 else None,
        "data": chunk,
    }
