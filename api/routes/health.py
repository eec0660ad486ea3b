"""Liveness and readiness: the database answers and the broker relay is connected."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api import examples
from api.openapi import example

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="200 when PostgreSQL and the broker are reachable, 503 otherwise",
    responses={
        200: example(examples.HEALTH),
        503: example({"status": "degraded", "database": "ok", "broker": "unreachable"}, "Degraded"),
    },
)
async def healthz(request: Request) -> JSONResponse:
    checks: dict[str, Any] = {"database": "ok", "broker": "ok"}
    try:
        async with asyncio.timeout(2):
            async with request.app.state.pool.connection() as conn:
                await conn.execute("SELECT 1")
    except Exception:
        checks["database"] = "unreachable"
    if not request.app.state.relay.connected:
        checks["broker"] = "unreachable"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503
    )
