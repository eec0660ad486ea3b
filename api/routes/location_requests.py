"""Caller location requests: made by dispatchers (for a journey, or before dispatch), answered by
the caller's phone without signing in (/locate/<token>), accepted by the dispatcher as the
incident's position. The caller's side learns nothing but whether its link still works."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from accounts import location_requests, throttle
from api.deps import Conn, Editor, FleetReader, client_ip
from api.openapi import AUTH_ERRORS, CONFLICT, NOT_FOUND, error, ok
from api.relay import CommittedFixRelay
from api.routes.caller_links import PRIVATE_HEADERS

router = APIRouter()

REQUEST = {
    "id": 5,
    "journey_id": 42,
    "state": "located",
    "created_by": "lan.dispatch",
    "created_at": "2026-12-05T02:00:00.000Z",
    "expires_at": "2026-12-05T02:30:00.000Z",
    "located_at": "2026-12-05T02:01:10.000Z",
    "reports": 3,
    "position": {"lat": 16.0612, "lon": 108.224, "accuracy_m": 12.0},
    "refused_at": None,
    "accepted_at": None,
    "accepted_by": None,
}
ISSUED = {**REQUEST, "state": "waiting", "position": None, "token": "Zr8k...", "url": "/locate/Zr8k..."}
GONE: dict[int | str, dict[str, Any]] = {
    410: error("Accepted, declined or expired", "this location link has expired")
}


class CallerPosition(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"lat": 16.0612, "lon": 108.224, "accuracy_m": 12}]}
    )

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)


async def _share(request: Request, events: list[dict[str, Any]]) -> None:
    relay: CommittedFixRelay = request.app.state.relay
    await relay.publish_events(events)


async def _throttle(conn: Conn, request: Request) -> None:
    per_minute: int = request.app.state.settings.public_track_per_minute
    hits = await throttle.count_hits(conn, f"locate:{client_ip(request)}", timedelta(minutes=1))
    if hits > per_minute:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many requests; try again later",
            {"Retry-After": str(60 - int(time.time()) % 60)},
        )


@router.post(
    "/api/v1/journeys/{journey_id}/location-request",
    status_code=status.HTTP_201_CREATED,
    tags=["journeys"],
    summary="A link asking the caller to share the phone's position (30 minutes, single use)",
    responses=ok(ISSUED, AUTH_ERRORS, NOT_FOUND, CONFLICT, status=201),
)
async def create_for_journey(
    journey_id: int, conn: Conn, principal: Editor, response: Response
) -> dict[str, Any]:
    response.headers.update(PRIVATE_HEADERS)
    return await location_requests.issue_location_request(conn, journey_id, principal.name)


@router.post(
    "/api/v1/location-requests",
    status_code=status.HTTP_201_CREATED,
    tags=["journeys"],
    summary="A location link for a call not yet dispatched (accept it, then dispatch to the position)",
    responses=ok({**ISSUED, "journey_id": None}, AUTH_ERRORS, status=201),
)
async def create_before_dispatch(conn: Conn, principal: Editor, response: Response) -> dict[str, Any]:
    response.headers.update(PRIVATE_HEADERS)
    return await location_requests.issue_location_request(conn, None, principal.name)


@router.get(
    "/api/v1/location-requests/{request_id}",
    tags=["journeys"],
    summary="A location request: its state and the caller's latest position",
    responses=ok(REQUEST, AUTH_ERRORS, NOT_FOUND),
)
async def get_one(request_id: int, conn: Conn, _: FleetReader) -> dict[str, Any]:
    return await location_requests.get_location_request(conn, request_id)


@router.post(
    "/api/v1/location-requests/{request_id}/accept",
    tags=["journeys"],
    summary="Take the caller's position as the incident's (the journey's route and ETAs follow)",
    responses=ok({"request": REQUEST, "journey": None}, AUTH_ERRORS, NOT_FOUND, CONFLICT, GONE),
)
async def accept(request_id: int, conn: Conn, principal: Editor, request: Request) -> dict[str, Any]:
    accepted, journey, events = await location_requests.accept(conn, request_id, principal.name)
    await _share(request, events)
    return {"request": accepted, "journey": journey}


@router.get(
    "/api/v1/public/locate/{token}",
    tags=["caller links"],
    summary="Whether a caller's location link still works (no authentication)",
    responses={
        200: {
            "description": "The link works",
            "content": {"application/json": {"example": {"state": "waiting"}}},
        },
        404: error("No such link", "no such location link"),
        **GONE,
    },
)
async def public_state(token: str, request: Request, response: Response, conn: Conn) -> dict[str, Any]:
    response.headers.update(PRIVATE_HEADERS)
    await _throttle(conn, request)
    if len(token) > 100:
        raise location_requests.LocationRequestNotFoundError("no such location link")
    return await location_requests.link_state(conn, token)


@router.post(
    "/api/v1/public/locate/{token}",
    tags=["caller links"],
    summary="The caller's phone sends its position (no authentication)",
    responses={
        200: {"description": "Received", "content": {"application/json": {"example": {"state": "located"}}}},
        404: error("No such link", "no such location link"),
        **GONE,
    },
)
async def public_report(
    token: str, body: CallerPosition, request: Request, response: Response, conn: Conn
) -> dict[str, Any]:
    response.headers.update(PRIVATE_HEADERS)
    await _throttle(conn, request)
    if len(token) > 100:
        raise location_requests.LocationRequestNotFoundError("no such location link")
    _, events = await location_requests.report_position(conn, token, body.lat, body.lon, body.accuracy_m)
    await _share(request, events)
    return {"state": "located"}


@router.post(
    "/api/v1/public/locate/{token}/refuse",
    tags=["caller links"],
    summary="The caller declines to share the position (the link ends; the dispatcher is told)",
    responses={
        200: {"description": "Declined", "content": {"application/json": {"example": {"state": "refused"}}}},
        404: error("No such link", "no such location link"),
        **GONE,
    },
)
async def public_refuse(token: str, request: Request, response: Response, conn: Conn) -> dict[str, Any]:
    response.headers.update(PRIVATE_HEADERS)
    await _throttle(conn, request)
    if len(token) > 100:
        raise location_requests.LocationRequestNotFoundError("no such location link")
    await _share(request, await location_requests.refuse(conn, token))
    return {"state": "refused"}
