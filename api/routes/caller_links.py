"""Caller tracking links: issued by dispatchers, opened by the caller without signing in.

The public answer shows only the ambulance heading to the caller (call sign, position, ETA to the
scene), then `{"status": "arrived"}`; a closed journey or a replaced link answers 410 Gone.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from accounts import caller_links, throttle
from api.deps import Conn, Editor, client_ip
from api.openapi import AUTH_ERRORS, CONFLICT, NOT_FOUND, error, ok

router = APIRouter()

# Nobody but the caller should see the token: no caching, no referrer, no indexing.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
LINK = {"token": "q0mR3v...32-characters", "url": "/track/q0mR3v...32-characters", "expires_at": None}
APPROACHING = {
    "status": "en_route",
    "call_sign": "115-07",
    "vehicle": {"lat": 16.0598, "lon": 108.2189, "heading": 92.0, "speed_kmh": 41.5, "age_s": 2.4},
    "scene": {"lat": 16.061, "lon": 108.224},
    "eta_s": 143,
    "arrival_at": "2026-11-20T03:04:23.000Z",
    "distance_m": 1210,
}


@router.post(
    "/api/v1/journeys/{journey_id}/caller-link",
    status_code=status.HTTP_201_CREATED,
    summary="A public tracking link for the caller (a new one revokes the journey's previous link)",
    description="The token is random (192 bits) and shown once: only its hash is stored. The link "
    "works until the journey is completed or cancelled. Send the caller `url`, prefixed by this "
    "server's public address.",
    tags=["journeys"],
    responses=ok(LINK, AUTH_ERRORS, NOT_FOUND, CONFLICT, status=201),
)
async def create(journey_id: int, conn: Conn, principal: Editor) -> dict[str, Any]:
    return await caller_links.issue_caller_link(conn, journey_id, principal.name)


@router.get(
    "/api/v1/public/track/{token}",
    tags=["caller links"],
    summary="What a caller's tracking link shows (no authentication)",
    description="While the ambulance heads to the scene (dispatched, en_route): its call sign, "
    "latest position, the scene and the ETA to it. Once on scene (or any later status): only "
    '`{"status": "arrived"}`. Completed, cancelled or replaced: 410. Rate-limited per client '
    "address (429 with Retry-After).",
    responses={
        200: {
            "description": "The ambulance approaching, or arrived",
            "content": {
                "application/json": {
                    "examples": {
                        "approaching": {"value": APPROACHING},
                        "arrived": {"value": {"status": "arrived"}},
                    }
                }
            },
        },
        404: error("No such link", "no such tracking link"),
        410: error("The journey is over, or the link was replaced", "this tracking link has expired"),
        429: error("Too many requests from this address", "too many requests; try again in 23 s"),
    },
)
async def public_view(token: str, request: Request, response: Response, conn: Conn) -> dict[str, Any]:
    response.headers.update(PRIVATE_HEADERS)
    per_minute: int = request.app.state.settings.public_track_per_minute
    hits = await throttle.count_hits(conn, f"track:{client_ip(request)}", timedelta(minutes=1))
    if hits > per_minute:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many requests; try again later",
            {"Retry-After": str(60 - int(time.time()) % 60)},  # the end of the minute window
        )
    if len(token) > 100:
        raise caller_links.CallerLinkNotFoundError("no such tracking link")
    return await caller_links.caller_view(conn, token)
