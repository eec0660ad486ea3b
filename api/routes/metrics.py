"""`GET /metrics`: the process's Prometheus metrics (guards' refusals, open websockets).

Any authenticated caller (give Prometheus a `viewer` API key: `authorization: {credentials: ...}`
in its scrape config); not in the OpenAPI document (not JSON).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import AnyUser
from api.metrics import exposition

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def prometheus_metrics(principal: AnyUser) -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)
