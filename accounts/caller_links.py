"""Caller tracking links: a public, unguessable link per journey showing the caller only that
ambulance approaching and its ETA to the scene, until it gets there; gone once the journey closes."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from fixes.model import iso_utc
from roads.routing import NoRouteError, RoutePoint, route
from runtime.db import query
from tracking.eta_calibration import cached_calibration
from tracking.journey_machine import CLOSED_STATUSES
from tracking.journeys import lock_open_journey

log = logging.getLogger(__name__)

TOKEN_BYTES = 24  # 192 random bits
APPROACHING = ("dispatched", "en_route")  # later open statuses: the ambulance has reached the scene

# Routes computed here when the tracking worker holds no ETA, per (journey, fix): one per fix.
_fallback_etas: dict[tuple[int, datetime], tuple[float, float] | None] = {}
_FALLBACK_CACHE_SIZE = 1000


class CallerLinkNotFoundError(LookupError):
    """No link has this token."""


class CallerLinkGoneError(LookupError):
    """The link was revoked, or its journey is over."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_caller_link(conn: AsyncConnection, journey_id: int, created_by: str) -> dict[str, Any]:
    """A new link for an open journey; the journey's earlier link stops working. The token is
    returned once: only its hash is stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with conn.transaction():
        await lock_open_journey(conn, journey_id)
        await conn.execute(
            "UPDATE caller_links SET revoked_at = now() WHERE journey_id = %s AND revoked_at IS NULL",
            (journey_id,),
        )
        await conn.execute(
            "INSERT INTO caller_links (journey_id, token_hash, created_by) VALUES (%s, %s, %s)",
            (journey_id, token_hash(token), created_by),
        )
    return {"token": token, "url": f"/track/{token}", "expires_at": None}


async def caller_view(conn: AsyncConnection, token: str) -> dict[str, Any]:
    """What the caller sees: while the ambulance heads to the scene, its call sign, position and
    ETA; then only `{"status": "arrived"}`. CallerLinkNotFoundError / CallerLinkGoneError otherwise."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("accounts/caller_view"), {"token_hash": token_hash(token)})
        row = await cur.fetchone()
    if row is None:
        raise CallerLinkNotFoundError("no such tracking link")
    if row["revoked_at"] is not None or row["status"] in CLOSED_STATUSES:
        raise CallerLinkGoneError("this tracking link has expired")
    if row["status"] not in APPROACHING:
        return {"status": "arrived"}
    now = datetime.now(UTC)
    vehicle = None
    eta_s = arrival_at = distance_m = None
    window = None
    if row["fix_time"] is not None:
        vehicle = {
            "lat": row["lat"],
            "lon": row["lon"],
            "heading": row["course"],
            "speed_kmh": row["speed_kmh"],
            "age_s": round(max(0.0, (now - row["fix_time"]).total_seconds()), 1),
        }
        remaining = (
            (float(row["remaining_m"]), float(row["remaining_s"]))
            if row["remaining_s"] is not None
            else await _fallback_eta(conn, row)
        )
        if remaining is not None:
            distance_m = round(remaining[0])
            if row["arrival_at"] is not None:
                arrival, early, late = row["arrival_at"], row["arrival_early_at"], row["arrival_late_at"]
            else:  # the route computed here, calibrated as the tracker's are
                arrival, early, late = await _calibrated(
                    conn, row["fix_time"], remaining[1], row["vehicle_id"]
                )
            arrival_at = iso_utc(arrival)
            eta_s = max(0, round((arrival - now).total_seconds()))
            if early is not None and late is not None:
                # the p10-p90 arrival window (tracking/eta_calibration.py)
                window = {"early_at": iso_utc(early), "late_at": iso_utc(late)}
    return {
        "status": row["status"],
        "call_sign": row["call_sign"],
        "vehicle": vehicle,
        "scene": {"lat": row["scene_lat"], "lon": row["scene_lon"]},
        "eta_s": eta_s,
        "arrival_at": arrival_at,
        "arrival_window": window,
        "distance_m": distance_m,
    }


async def _calibrated(
    conn: AsyncConnection, fix_time: datetime, seconds: float, vehicle_id: int
) -> tuple[datetime, datetime, datetime]:
    """The arrival, early and late, of a raw route of the vehicle from `fix_time`
    (tracking/eta_calibration.py)."""
    expected, early, late = (await cached_calibration(conn)).window(fix_time, seconds, vehicle_id, "scene")
    return (
        fix_time + timedelta(seconds=expected),
        fix_time + timedelta(seconds=early),
        fix_time + timedelta(seconds=late),
    )


async def _fallback_eta(conn: AsyncConnection, row: dict[str, Any]) -> tuple[float, float] | None:
    """(metres, seconds) by road from the latest fix to the scene, computed once per fix."""
    key = (row["journey_id"], row["fix_time"])
    if key not in _fallback_etas:
        if len(_fallback_etas) >= _FALLBACK_CACHE_SIZE:
            _fallback_etas.clear()
        start = RoutePoint(row["lat"], row["lon"], row["course"])
        try:
            r = await route(conn, start, RoutePoint(row["scene_lat"], row["scene_lon"]), row["fix_time"])
            _fallback_etas[key] = (r.distance_m, r.duration_s)
        except NoRouteError as exc:
            log.info("no route to the scene of journey %s: %s", row["journey_id"], exc)
            _fallback_etas[key] = None
    return _fallback_etas[key]
