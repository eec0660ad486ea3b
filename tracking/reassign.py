"""Re-dispatch when a unit fails: the journey's vehicle is replaced. The failed vehicle's part is
closed as a leg (its vehicle, times, status then and the reason: breakdown, accident, diverted);
the journey goes on with the new vehicle from `dispatched`, with its own status times. Whatever
follows the journey (the caller's link, the hospital board, ETAs) follows the new vehicle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row

from fixes.model import iso_utc
from tracking.journey_machine import CLOSED_STATUSES
from tracking.journeys import (
    TIMESTAMPS,
    JourneyConflictError,
    JourneyInputError,
    JourneyNotFoundError,
    check_vehicle_available,
    get_journey,
)
from tracking.tracking_store import insert_event
from tracking.vehicle_rules import EventDraft

REASONS = ("breakdown", "accident", "diverted")
# A broken or crashed vehicle is out of service; a diverted one is free for its new call.
UNIT_STATUS_AFTER = {"breakdown": "out_of_service", "accident": "out_of_service", "diverted": "available"}
LEG_TIMES = TIMESTAMPS[:5]  # dispatched .. at_hospital: what a replaced vehicle may have reached


async def reassign_journey(
    conn: AsyncConnection,
    journey_id: int,
    new_vehicle_id: int,
    reason: str,
    actor: str,
    note: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Give an open journey to `new_vehicle_id`; returns the journey and the events raised."""
    if reason not in REASONS:
        raise JourneyInputError(f"reason is one of {', '.join(REASONS)}")
    now = datetime.now(UTC)
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT j.*, v.call_sign FROM journeys j JOIN vehicles v ON v.id = j.vehicle_id"
                " WHERE j.id = %s FOR UPDATE OF j",
                (journey_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise JourneyNotFoundError(f"no journey with id {journey_id}")
        if row["status"] in CLOSED_STATUSES:
            raise JourneyConflictError(f"journey {journey_id} is {row['status']}")
        old_vehicle = row["vehicle_id"]
        if new_vehicle_id == old_vehicle:
            raise JourneyInputError("the journey already has this vehicle")
        await check_vehicle_available(conn, new_vehicle_id)
        times = {t: iso_utc(row[t]) for t in LEG_TIMES if row[t] is not None}
        await conn.execute(
            "INSERT INTO journey_legs (journey_id, vehicle_id, started_at, ended_at, end_reason, ended_status,"
            " times, note, ended_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                journey_id,
                old_vehicle,
                row["dispatched_at"],
                now,
                reason,
                row["status"],
                json.dumps(times),
                note,
                actor,
            ),
        )
        try:
            await conn.execute(
                "UPDATE journeys SET vehicle_id = %s, status = 'dispatched', dispatched_at = %s, en_route_at = NULL,"
                " on_scene_at = NULL, transporting_at = NULL, at_hospital_at = NULL, returning_at = NULL,"
                " updated_at = now() WHERE id = %s",
                (new_vehicle_id, now, journey_id),
            )
        except errors.UniqueViolation as exc:
            raise JourneyConflictError(f"vehicle {new_vehicle_id} already has an open journey") from exc
        # The held route was the old vehicle's: the tracking worker routes the new one afresh.
        await conn.execute("DELETE FROM journey_eta WHERE journey_id = %s", (journey_id,))
        rule = f"{actor}: replaces {row['call_sign']} ({reason})"
        await conn.execute(
            "INSERT INTO journey_status_log (journey_id, from_status, to_status, at, source, rule)"
            " VALUES (%s, %s, 'dispatched', %s, 'dispatcher', %s)",
            (journey_id, row["status"], now, rule),
        )
        await conn.execute(
            "INSERT INTO vehicle_state (vehicle_id, unit_status) VALUES (%s, %s)"
            " ON CONFLICT (vehicle_id) DO UPDATE SET unit_status = EXCLUDED.unit_status, updated_at = now()",
            (old_vehicle, UNIT_STATUS_AFTER[reason]),
        )
        if UNIT_STATUS_AFTER[reason] == "out_of_service":  # the unit's own time out, for utilisation
            await conn.execute(
                "INSERT INTO unit_status_log (vehicle_id, status, at) VALUES (%s, 'out_of_service', %s)",
                (old_vehicle, now),
            )
        await conn.execute(
            "INSERT INTO vehicle_state (vehicle_id, unit_status) VALUES (%s, 'on_journey')"
            " ON CONFLICT (vehicle_id) DO UPDATE SET unit_status = 'on_journey', updated_at = now()",
            (new_vehicle_id,),
        )
        hospital = row["destination_hospital_id"]
        details = {
            "from_vehicle_id": old_vehicle,
            "to_vehicle_id": new_vehicle_id,
            "reason": reason,
            "by": actor,
        }
        events = [
            await insert_event(
                conn,
                EventDraft("journey_reassigned", now, "warning", details, hospital_id=hospital),
                new_vehicle_id,
                journey_id,
                None,
            ),
            # The new vehicle is dispatched to it (the failed one's status follows its unit status).
            await insert_event(
                conn,
                EventDraft(
                    "status_change",
                    now,
                    "info",
                    {"from": None, "to": "dispatched", "by": actor},
                    hospital_id=hospital,
                ),
                new_vehicle_id,
                journey_id,
                None,
            ),
        ]
    return await get_journey(conn, journey_id), events


async def journey_legs(conn: AsyncConnection, journey_id: int) -> list[dict[str, Any]]:
    """The replaced vehicles' parts of a journey, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT l.vehicle_id, v.call_sign, l.started_at, l.ended_at, l.end_reason, l.ended_status, l.times,"
            " l.note, l.ended_by FROM journey_legs l JOIN vehicles v ON v.id = l.vehicle_id"
            " WHERE l.journey_id = %s ORDER BY l.started_at, l.id",
            (journey_id,),
        )
        rows = await cur.fetchall()
    return [{**r, "started_at": iso_utc(r["started_at"]), "ended_at": iso_utc(r["ended_at"])} for r in rows]
