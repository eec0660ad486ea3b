"""The crew's tablet: its vehicle and journey, status presses with the tablet's time (queued
offline and sent later), a change of destination with a reason; sign-in codes (QR) issued by a
dispatcher for a vehicle's crew.

A crew account is bound to one vehicle: every call here is about that vehicle only, and a journey
of another vehicle answers 404.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import segno
from fastapi import APIRouter, HTTPException, Request, Response, status

from accounts import crew_codes, sessions, throttle
from accounts import users as accounts
from accounts.access import Principal
from api.crew_schemas import CrewCodeRedeem, CrewDestination, CrewStatusPress
from api.deps import Conn, Crew, Editor, client_ip, same_origin, session_policy
from api.openapi import AUTH_ERRORS, CONFLICT, NOT_FOUND, error, ok
from api.relay import CommittedFixRelay
from api.routes.auth import set_session_cookie
from api.routes.caller_links import PRIVATE_HEADERS
from tracking import crew, journeys

router = APIRouter()
log = logging.getLogger(__name__)

CREW_VIEW = {
    "vehicle": {"id": 7, "call_sign": "115-07", "plate": "43A12345", "position": None, "age_s": None},
    "journey": {
        "id": 42,
        "status": "en_route",
        "incident_lat": 16.061,
        "incident_lon": 108.224,
        "incident_address": "12 Bạch Đằng, Hải Châu",
        "note": "ngã xe máy, chảy máu đầu",
        "destination_hospital_id": 1,
        "status_log": [],
        "route": {"target": "scene", "geometry": None, "distance_m": 1210, "duration_s": 143},
    },
}
CODE = {
    "code": "Zr8k...",
    "url": "/crew#code=Zr8k...",
    "username": "crew-115-07",
    "vehicle_id": 7,
    "expires_at": "2026-12-05T02:19:00.000Z",
    "qr_svg": "<svg ...>",
    "qr_data_uri": "data:image/svg+xml;charset=utf-8,%3Csvg...",
}


def _vehicle_of(principal: Principal) -> int:
    if principal.vehicle_id is None:  # the schema forbids it; never trust a row blindly
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this crew account has no vehicle")
    return principal.vehicle_id


async def _own_journey(conn: Conn, principal: Principal, journey_id: int) -> dict[str, Any]:
    journey = await journeys.get_journey(conn, journey_id)
    if journey["vehicle_id"] != _vehicle_of(principal):
        # Not "forbidden": a crew must not learn which journeys exist elsewhere.
        raise journeys.JourneyNotFoundError(f"no journey with id {journey_id}")
    return journey


async def _share(request: Request, events: list[dict[str, Any]]) -> None:
    relay: CommittedFixRelay = request.app.state.relay
    await relay.publish_events(events)


@router.get(
    "/api/v1/crew/journey",
    tags=["crew"],
    summary="The crew's vehicle and its open journey, with the route and ETA ahead",
    responses=ok(CREW_VIEW, AUTH_ERRORS),
)
async def crew_journey(conn: Conn, principal: Crew, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"
    view = await crew.crew_view(conn, _vehicle_of(principal))
    return {**view, "destination_reasons": list(crew.DESTINATION_REASONS)}


@router.post(
    "/api/v1/crew/status",
    tags=["crew"],
    summary="A status button pressed on the tablet (source crew, the tablet's time)",
    description="`at` is when the button was pressed by the tablet's clock; it is kept between the "
    "journey's latest logged status and now. A press made offline is sent later with `queued: true` "
    "and shown as such in the status log. A press sent again (same `press_id`) is stored once. "
    "409 when the journey is already in that status or closed: resending cannot change that.",
    responses=ok(CREW_VIEW["journey"], AUTH_ERRORS, NOT_FOUND, CONFLICT),
)
async def press_status(
    body: CrewStatusPress, conn: Conn, principal: Crew, request: Request
) -> dict[str, Any]:
    await _own_journey(conn, principal, body.journey_id)
    # Checked again under the journey's lock: a re-dispatch meanwhile takes it from this crew.
    press = journeys.CrewPress(body.at, body.queued, str(body.press_id), _vehicle_of(principal))
    journey, events = await journeys.set_status(
        conn, body.journey_id, body.status, "crew", principal.name, press
    )
    await _share(request, events)
    return journey


@router.post(
    "/api/v1/crew/tracker",
    tags=["crew"],
    summary="Make the tablet the vehicle's tracker: its OsmAnd device id, a new token and where to send",
    description="For an ambulance without a hardware box: the tablet sends the browser's positions to "
    "the gateway's OsmAnd/HTTP listener (`url`) with `Authorization: Bearer <token>`, like any phone "
    "tracker; the gateway answers 200 only once the fixes are committed. A new call replaces the "
    "token. The gateway must list this site in `AMB_GATEWAY_OSMAND_ALLOWED_ORIGINS`.",
    responses=ok(
        {"device_id": "crew-tablet-7", "token": "amb_dev_...", "url": "http://127.0.0.1:5055/"}, AUTH_ERRORS
    ),
)
async def tablet_tracker(conn: Conn, principal: Crew, request: Request, response: Response) -> dict[str, Any]:
    response.headers.update(PRIVATE_HEADERS)
    issued = await crew.issue_tablet_tracker(conn, _vehicle_of(principal))
    return {**issued, "url": tracker_url(request)}


def tracker_url(request: Request) -> str:
    """The gateway's OsmAnd listener as a browser reaches it (AMB_API_TRACKER_URL, else port 5055
    of the host the page came from)."""
    configured: str = request.app.state.settings.tracker_url
    if configured:
        return configured
    return f"{request.url.scheme}://{request.url.hostname}:5055/"


@router.post(
    "/api/v1/crew/destination",
    tags=["crew"],
    summary="The crew changes the destination hospital, with a reason (both hospitals are told)",
    responses=ok(CREW_VIEW["journey"], AUTH_ERRORS, NOT_FOUND, CONFLICT),
)
async def change_destination(
    body: CrewDestination, conn: Conn, principal: Crew, request: Request
) -> dict[str, Any]:
    await _own_journey(conn, principal, body.journey_id)
    reason = body.reason if not body.note else f"{body.reason}: {body.note}"
    journey, events = await journeys.set_destination(
        conn, body.journey_id, body.hospital_id, principal.name, reason, "crew"
    )
    await _share(request, events)
    return journey


@router.post(
    "/api/v1/vehicles/{vehicle_id}/crew-code",
    status_code=status.HTTP_201_CREATED,
    tags=["vehicles"],
    summary="A single-use sign-in code (and its QR code) for the vehicle's crew tablet",
    description="Creates the vehicle's crew account when it has none. The code works once, for "
    "`AMB_API_CREW_CODE_MINUTES`; only its hash is stored. The tablet scans the QR code (the "
    "address `/crew#code=...`: the code stays in the fragment, never sent in a request line).",
    responses=ok(CODE, AUTH_ERRORS, NOT_FOUND, status=201),
)
async def issue_code(
    vehicle_id: int, conn: Conn, principal: Editor, request: Request, response: Response
) -> dict[str, Any]:
    response.headers.update(PRIVATE_HEADERS)
    ttl = timedelta(minutes=request.app.state.settings.crew_code_minutes)
    try:
        issued = await crew_codes.issue_crew_code(conn, vehicle_id, principal.name, ttl)
    except crew_codes.CrewVehicleNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    address = str(request.base_url).rstrip("/") + issued["url"]
    qr = segno.make(address, error="m")
    return {
        **issued,
        "qr_svg": qr.svg_inline(scale=5, dark="#111", light="#fff"),
        "qr_data_uri": qr.svg_data_uri(scale=5, dark="#111", light="#fff"),  # for an <img>
    }


@router.post(
    "/api/v1/auth/crew-code",
    tags=["auth"],
    summary="Sign a crew tablet in with a sign-in code: sets the session cookie",
    responses=ok(
        {"user": {"username": "crew-115-07", "role": "crew", "vehicle_id": 7}, "csrf_token": "Jx3f0mQ2..."},
        {401: error("Unknown, used or expired code", "this sign-in code is not valid (used or expired)")},
        {429: error("Too many attempts from this address", "too many attempts; try again later")},
    ),
)
async def redeem_code(
    body: CrewCodeRedeem, request: Request, response: Response, conn: Conn
) -> dict[str, Any]:
    if "origin" in request.headers and not same_origin(
        request.headers, request.app.state.settings.allowed_origins
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site request refused")
    hits = await throttle.count_hits(conn, f"crew-code:{client_ip(request)}", timedelta(minutes=1))
    if hits > 30:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many attempts; try again later",
            {"Retry-After": str(60 - int(time.time()) % 60)},
        )
    user_id = await crew_codes.redeem_crew_code(conn, body.code)
    if user_id is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this sign-in code is not valid (used or expired)")
    old_cookie = request.cookies.get("amb_session")
    if old_cookie:
        await sessions.close_session(conn, sessions.session_id(old_cookie))
    secret, csrf = await sessions.open_session(
        conn, user_id, session_policy(request), client_ip(request), request.headers.get("user-agent")
    )
    await accounts.stamp_login(conn, user_id)
    set_session_cookie(request, response, secret)
    user = await accounts.get_user(conn, user_id)
    log.info("crew tablet signed in with a code as %s", user["username"])
    keys = ("id", "username", "display_name", "role", "hospital_id", "vehicle_id")
    return {"user": {k: user[k] for k in keys}, "csrf_token": csrf}
