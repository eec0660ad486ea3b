"""What a vehicle's crew sees on its tablet: its own vehicle, its open journey (incident, note,
scene, destination, status log) and the road route and ETA to where it heads next — nothing of
any other vehicle or journey."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from fixes.model import iso_utc
from roads.routing import NoRouteError, RoutePoint, route
from tracking.journeys import get_journey, list_journeys, status_log
from tracking.vehicles import vehicles_with_latest

log = logging.getLogger(__name__)

# The buttons of the tablet, in the order a journey goes through them; "available" ends the
# journey (completed) and frees the unit.
CREW_STATUSES = ("en_route", "on_scene", "transporting", "at_hospital", "returning", "completed")
# Why a crew changes the destination hospital (shown to the dispatcher and both hospitals).
DESTINATION_REASONS = (
    "patient_condition",
    "hospital_full",
    "specialty_needed",
    "closer_hospital",
    "family_request",
    "other",
)
HEADING_TO_SCENE = ("dispatched", "en_route")


class CrewVehicleMissingError(LookupError):
    """The crew's vehicle no longer exists."""


def tablet_device_id(vehicle_id: int) -> str:
    """The device id of a vehicle's crew tablet when it is the vehicle's tracker."""
    return f"crew-tablet-{vehicle_id}"


async def issue_tablet_tracker(conn: AsyncConnection, vehicle_id: int) -> dict[str, str]:
    """Register the vehicle's crew tablet as an OsmAnd (HTTP) tracker of the vehicle and give it a
    new token (shown once; only its hash is stored; the previous token stops at the gateway's
    next registry reload)."""
    token = "amb_dev_" + secrets.token_urlsafe(24)
    device_id = tablet_device_id(vehicle_id)
    await conn.execute(
        "INSERT INTO devices (id, protocol, vehicle_id, token_hash) VALUES (%s, 'osmand', %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET protocol = 'osmand', vehicle_id = EXCLUDED.vehicle_id,"
        " token_hash = EXCLUDED.token_hash, enabled = true",
        (device_id, vehicle_id, hashlib.sha256(token.encode()).hexdigest()),
    )
    return {"device_id": device_id, "token": token}


async def crew_view(conn: AsyncConnection, vehicle_id: int) -> dict[str, Any]:
    """The crew's vehicle (with its latest position) and its open journey with the route ahead."""
    found = await vehicles_with_latest(conn, vehicle_id)
    if not found:
        raise CrewVehicleMissingError(f"no vehicle with id {vehicle_id}")
    vehicle = found[0]
    open_journeys = await list_journeys(conn, True, vehicle_id, None, 1)
    if not open_journeys:
        return {"vehicle": vehicle, "journey": None}
    journey = open_journeys[0]
    journey["status_log"] = await status_log(conn, journey["id"])
    journey["route"] = await _route_ahead(conn, journey, vehicle.get("position"))
    return {"vehicle": vehicle, "journey": journey}


async def crew_journey(conn: AsyncConnection, vehicle_id: int) -> dict[str, Any] | None:
    """The crew's open journey (None without one)."""
    open_journeys = await list_journeys(conn, True, vehicle_id, None, 1)
    return await get_journey(conn, open_journeys[0]["id"]) if open_journeys else None


async def _route_ahead(
    conn: AsyncConnection, journey: dict[str, Any], position: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Where the vehicle heads next (the scene, or the destination hospital while transporting):
    the route the tracking worker holds for the journey (the dispatcher's), else one computed from
    the latest fix; None when there is no target or no position."""
    target = "scene" if journey["status"] in HEADING_TO_SCENE else None
    if journey["status"] == "transporting" and journey["destination_hospital_id"] is not None:
        target = "hospital"
    if target is None:
        return None
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT target_kind, ST_AsGeoJSON(route_geom)::json AS geometry, remaining_m, remaining_s,"
            " arrival_at FROM journey_eta WHERE journey_id = %s AND target_kind = %s",
            (journey["id"], target),
        )
        held = await cur.fetchone()
    if held is not None:
        return {
            "target": target,
            "geometry": held["geometry"],
            "distance_m": round(held["remaining_m"]),
            "duration_s": round(held["remaining_s"]),
            "arrival_at": iso_utc(held["arrival_at"]),
        }
    if position is None:
        return None
    end = await _target_point(conn, journey, target)
    if end is None:
        return None
    now = datetime.now(UTC)
    try:
        r = await route(conn, RoutePoint(position["lat"], position["lon"], position.get("heading")), end, now)
    except NoRouteError as exc:
        log.info("no route ahead for journey %s: %s", journey["id"], exc)
        return None
    return {
        "target": target,
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in r.geometry]},
        "distance_m": round(r.distance_m),
        "duration_s": round(r.duration_s),
        "arrival_at": None,
    }


async def _target_point(conn: AsyncConnection, journey: dict[str, Any], target: str) -> RoutePoint | None:
    if target == "scene":
        return RoutePoint(journey["incident_lat"], journey["incident_lon"])
    cur = await conn.execute(
        "SELECT ST_Y(geom), ST_X(geom) FROM hospitals WHERE id = %s", (journey["destination_hospital_id"],)
    )
    row = await cur.fetchone()
    return RoutePoint(row[0], row[1]) if row else None
