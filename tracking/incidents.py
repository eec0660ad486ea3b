"""Several units for one incident (a mass-casualty call): each ambulance sent gets its own journey
to the same scene; the journeys share the incident's id (the first journey's), so the dispatcher's
map and the report show them together."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from fixes.model import iso_utc
from tracking.journeys import JourneyNotFoundError, create_journey

SIBLING_TIMES = (
    "dispatched_at",
    "en_route_at",
    "on_scene_at",
    "transporting_at",
    "at_hospital_at",
    "completed_at",
)


async def add_unit(
    conn: AsyncConnection,
    journey_id: int,
    vehicle_id: int,
    destination_hospital_id: int | None,
    created_by: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send another vehicle to `journey_id`'s incident: a new journey to the same scene (same
    address, priority, note and radius), joined to the incident. Returns it and its events."""
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, coalesce(incident_id, id) AS incident, ST_Y(incident_geom) AS lat,"
                " ST_X(incident_geom) AS lon, incident_address, priority, scene_radius_m, note,"
                " destination_hospital_id FROM journeys WHERE id = %s FOR UPDATE",
                (journey_id,),
            )
            first = await cur.fetchone()
        if first is None:
            raise JourneyNotFoundError(f"no journey with id {journey_id}")
        journey, events = await create_journey(
            conn,
            vehicle_id,
            first["lat"],
            first["lon"],
            first["incident_address"],
            first["priority"],
            destination_hospital_id,
            first["scene_radius_m"],
            created_by,
            first["note"],
        )
        await conn.execute(
            "UPDATE journeys SET incident_id = %s WHERE id = ANY(%s)",
            (first["incident"], [journey_id, journey["id"]]),
        )
    journey["incident_id"] = first["incident"]
    return journey, events


async def incident_units(conn: AsyncConnection, journey_id: int) -> list[dict[str, Any]]:
    """Every journey of `journey_id`'s incident (itself included), first sent first; just itself
    when the incident has one unit."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT j.id, j.vehicle_id, v.call_sign, j.status, j.destination_hospital_id,
                   {", ".join("j." + t for t in SIBLING_TIMES)}
            FROM journeys j JOIN vehicles v ON v.id = j.vehicle_id,
                 (SELECT coalesce(incident_id, id) AS incident FROM journeys WHERE id = %s) me
            WHERE j.id = me.incident OR j.incident_id = me.incident
            ORDER BY j.dispatched_at, j.id
            """,
            (journey_id,),
        )
        rows = await cur.fetchall()
    return [{**r, **{t: iso_utc(r[t]) if r[t] else None for t in SIBLING_TIMES}} for r in rows]
