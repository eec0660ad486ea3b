"""Journeys (missions): creation by a dispatcher, destination changes, manual status changes,
queries. Automatic transitions come from the tracking worker (journey_machine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row

from fixes.model import iso_utc
from tracking.journey_machine import CLOSED_STATUSES, check_manual_transition
from tracking.tracking_store import insert_event, set_journey_status
from tracking.vehicle_rules import EventDraft

TIMESTAMPS = (
    "dispatched_at",
    "en_route_at",
    "on_scene_at",
    "transporting_at",
    "at_hospital_at",
    "returning_at",
    "completed_at",
    "cancelled_at",
)
JOURNEY_COLUMNS = (
    "j.id, j.vehicle_id, v.call_sign, v.plate, j.status, j.priority, ST_Y(j.incident_geom) AS incident_lat,"
    " ST_X(j.incident_geom) AS incident_lon, j.incident_address, j.scene_radius_m, j.destination_hospital_id,"
    " h.name_vi AS destination_name_vi, h.name_en AS destination_name_en, j.note, j.created_by, j.call_received_at, "
    + ", ".join(f"j.{t}" for t in TIMESTAMPS)
    + ", j.updated_at, j.incident_id"
)


@dataclass(frozen=True, slots=True)
class CrewPress:
    """A status button pressed on a crew's tablet: its time by the tablet's clock, whether it waited
    offline in the tablet's queue, and the tablet's id for the press (a UUID)."""

    at: datetime | None
    queued: bool = False
    press_id: str | None = None
    vehicle_id: int | None = None  # the crew's vehicle: the journey must still be its own


class JourneyNotFoundError(LookupError):
    """No journey has this id."""


class JourneyConflictError(ValueError):
    """The request conflicts with the current state (vehicle busy, journey closed...)."""


class JourneyInputError(ValueError):
    """A journey request with a bad value (unknown vehicle or hospital...)."""


def journey_json(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in (*TIMESTAMPS, "call_received_at", "updated_at"):
        if out.get(key) is not None:
            out[key] = iso_utc(out[key])
    out["open"] = row["status"] not in CLOSED_STATUSES
    return out


async def lock_open_journey(conn: AsyncConnection, journey_id: int) -> str:
    """Lock an open journey's row (in the caller's transaction) and return its status; a journey
    that does not exist or is closed raises."""
    cur = await conn.execute("SELECT status FROM journeys WHERE id = %s FOR UPDATE", (journey_id,))
    row = await cur.fetchone()
    if row is None:
        raise JourneyNotFoundError(f"no journey with id {journey_id}")
    if row[0] in CLOSED_STATUSES:
        raise JourneyConflictError(f"journey {journey_id} is {row[0]}")
    return str(row[0])


async def get_journey(conn: AsyncConnection, journey_id: int) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {JOURNEY_COLUMNS} FROM journeys j JOIN vehicles v ON v.id = j.vehicle_id"
            " LEFT JOIN hospitals h ON h.id = j.destination_hospital_id WHERE j.id = %s",
            (journey_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise JourneyNotFoundError(f"no journey with id {journey_id}")
    return journey_json(row)


async def list_journeys(
    conn: AsyncConnection,
    open_only: bool = True,
    vehicle_id: int | None = None,
    hospital_id: int | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT {JOURNEY_COLUMNS} FROM journeys j JOIN vehicles v ON v.id = j.vehicle_id
            LEFT JOIN hospitals h ON h.id = j.destination_hospital_id
            WHERE (NOT %(open)s OR j.status <> ALL(%(closed)s))
              AND (%(vehicle)s::bigint IS NULL OR j.vehicle_id = %(vehicle)s)
              AND (%(hospital)s::bigint IS NULL OR j.destination_hospital_id = %(hospital)s)
            ORDER BY j.dispatched_at DESC LIMIT %(limit)s
            """,
            {
                "open": open_only,
                "closed": list(CLOSED_STATUSES),
                "vehicle": vehicle_id,
                "hospital": hospital_id,
                "limit": limit,
            },
        )
        return [journey_json(r) for r in await cur.fetchall()]


async def create_journey(
    conn: AsyncConnection,
    vehicle_id: int,
    lat: float,
    lon: float,
    address: str | None,
    priority: int,
    destination_hospital_id: int | None,
    scene_radius_m: float,
    created_by: str,
    note: str | None = None,
    call_received_at: datetime | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Dispatch `vehicle_id` to an incident; returns the journey and the events it raised.
    `call_received_at`: when the 115 call came in (the response time's start), if known."""
    now = datetime.now(UTC)
    _check_call_time(call_received_at, now)
    async with conn.transaction():
        await check_vehicle_available(conn, vehicle_id)
        try:
            cur = await conn.execute(
                """
                INSERT INTO journeys (vehicle_id, priority, incident_geom, incident_address, scene_radius_m,
                                      destination_hospital_id, created_by, note, dispatched_at, call_received_at)
                VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s, %s, %s, %s, %s) RETURNING id
                """,
                (
                    vehicle_id,
                    priority,
                    lon,
                    lat,
                    address,
                    scene_radius_m,
                    destination_hospital_id,
                    created_by,
                    note,
                    now,
                    call_received_at,
                ),
            )
        except errors.UniqueViolation as exc:
            raise JourneyConflictError(f"vehicle {vehicle_id} already has an open journey") from exc
        except errors.ForeignKeyViolation as exc:
            raise JourneyInputError("unknown vehicle or hospital") from exc
        row = await cur.fetchone()
        assert row is not None
        journey_id = row[0]
        await conn.execute(
            "INSERT INTO journey_status_log (journey_id, from_status, to_status, at, source, rule) VALUES (%s, NULL, 'dispatched', %s, 'dispatcher', %s)",
            (journey_id, now, created_by),
        )
        await conn.execute(
            "INSERT INTO vehicle_state (vehicle_id, unit_status) VALUES (%s, 'on_journey')"
            " ON CONFLICT (vehicle_id) DO UPDATE SET unit_status = 'on_journey', updated_at = now()",
            (vehicle_id,),
        )
        draft = EventDraft(
            "status_change",
            now,
            "info",
            {"from": None, "to": "dispatched", "by": created_by},
            hospital_id=destination_hospital_id,
        )
        events = [await insert_event(conn, draft, vehicle_id, journey_id, None)]
    return await get_journey(conn, journey_id), events


CALL_CLOCK_SKEW = timedelta(seconds=30)  # a desk's clock a little ahead of the server's
CALL_MAX_AGE = timedelta(hours=24)


def _check_call_time(call_received_at: datetime | None, now: datetime) -> None:
    if call_received_at is None:
        return
    if call_received_at.tzinfo is None:
        raise JourneyInputError("call_received_at needs a UTC offset")
    if call_received_at > now + CALL_CLOCK_SKEW:
        raise JourneyInputError("call_received_at is in the future")
    if call_received_at < now - CALL_MAX_AGE:
        raise JourneyInputError("call_received_at is more than 24 hours before the dispatch")


async def check_vehicle_available(conn: AsyncConnection, vehicle_id: int) -> None:
    """The vehicle exists (locked for the transaction) and is not out of service."""
    cur = await conn.execute(
        "SELECT v.id, s.unit_status FROM vehicles v LEFT JOIN vehicle_state s ON s.vehicle_id = v.id WHERE v.id = %s FOR UPDATE OF v",
        (vehicle_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise JourneyInputError(f"no vehicle with id {vehicle_id}")
    if row[1] == "out_of_service":
        raise JourneyConflictError(f"vehicle {vehicle_id} is out of service")


async def set_destination(
    conn: AsyncConnection,
    journey_id: int,
    hospital_id: int | None,
    actor: str,
    reason: str | None = None,
    source: str = "dispatcher",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Change the destination hospital; both the old and the new hospital get an event (with the
    crew's reason when the crew changed it)."""
    async with conn.transaction():
        current = await _lock_open(conn, journey_id)
        old = current["destination_hospital_id"]
        if old == hospital_id:
            return await get_journey(conn, journey_id), []
        try:
            await conn.execute(
                "UPDATE journeys SET destination_hospital_id = %s, updated_at = now() WHERE id = %s",
                (hospital_id, journey_id),
            )
        except errors.ForeignKeyViolation as exc:
            raise JourneyInputError(f"no hospital with id {hospital_id}") from exc
        now = datetime.now(UTC)
        details = {"from_hospital_id": old, "to_hospital_id": hospital_id, "by": actor, "source": source}
        if reason is not None:
            details["reason"] = reason
        events = [
            await insert_event(
                conn,
                EventDraft("destination_changed", now, "warning", details, hospital_id=h),
                current["vehicle_id"],
                journey_id,
                None,
            )
            for h in dict.fromkeys((old, hospital_id))
            if h is not None
        ]
    return await get_journey(conn, journey_id), events


async def set_status(
    conn: AsyncConnection,
    journey_id: int,
    status: str,
    source: str,
    actor: str,
    press: CrewPress | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A dispatcher's or crew's status change (any open status, or completed/cancelled). A crew's
    `press` carries the tablet's time (kept between the journey's latest logged status and now),
    whether it was queued offline, and its id (a press sent twice is stored once)."""
    now = datetime.now(UTC)
    async with conn.transaction():
        current = await _lock_open(conn, journey_id, press)
        if current.get("duplicate"):
            return await get_journey(conn, journey_id), []
        try:
            check_manual_transition(current["status"], status)
        except ValueError as exc:
            raise JourneyConflictError(str(exc)) from exc
        at = now
        if press is not None and press.at is not None:
            cur = await conn.execute(
                "SELECT max(at) FROM journey_status_log WHERE journey_id = %s", (journey_id,)
            )
            latest = (await cur.fetchone() or (None,))[0]
            at = min(max(press.at, latest or press.at), now)
        await set_journey_status(conn, journey_id, status, at)
        await conn.execute(
            "INSERT INTO journey_status_log (journey_id, from_status, to_status, at, source, rule, queued, press_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                journey_id,
                current["status"],
                status,
                at,
                source,
                actor,
                press is not None and press.queued,
                press.press_id if press else None,
            ),
        )
        if status in CLOSED_STATUSES:
            await conn.execute(
                "UPDATE vehicle_state SET unit_status = 'available', updated_at = now() WHERE vehicle_id = %s AND unit_status = 'on_journey'",
                (current["vehicle_id"],),
            )
        details = {"from": current["status"], "to": status, "by": actor, "source": source}
        if press is not None and press.queued:
            details["queued"] = True
        draft = EventDraft(
            "status_change", at, "info", details, hospital_id=current["destination_hospital_id"]
        )
        events = [await insert_event(conn, draft, current["vehicle_id"], journey_id, None)]
    return await get_journey(conn, journey_id), events


async def _lock_open(
    conn: AsyncConnection, journey_id: int, press: CrewPress | None = None
) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, vehicle_id, status, destination_hospital_id FROM journeys WHERE id = %s FOR UPDATE",
            (journey_id,),
        )
        row = await cur.fetchone()
    if row is None or (press is not None and press.vehicle_id not in (None, row["vehicle_id"])):
        raise JourneyNotFoundError(f"no journey with id {journey_id}")
    if press is not None and press.press_id is not None:
        cur2 = await conn.execute(
            "SELECT 1 FROM journey_status_log WHERE journey_id = %s AND press_id = %s",
            (journey_id, press.press_id),
        )
        if await cur2.fetchone() is not None:
            return {**row, "duplicate": True}  # a resend of a press already stored
    if row["status"] in CLOSED_STATUSES:
        raise JourneyConflictError(f"journey {journey_id} is {row['status']}")
    return row


async def status_log(conn: AsyncConnection, journey_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT from_status, to_status, at, source, rule, device_id, fix_time, queued, logged_at"
            " FROM journey_status_log WHERE journey_id = %s ORDER BY at, id",
            (journey_id,),
        )
        rows = await cur.fetchall()
    return [
        {
            **r,
            "at": iso_utc(r["at"]),
            "logged_at": iso_utc(r["logged_at"]),
            "fix_time": iso_utc(r["fix_time"]) if r["fix_time"] else None,
        }
        for r in rows
    ]


async def set_unit_status(conn: AsyncConnection, vehicle_id: int, status: str) -> None:
    """Take a vehicle out of service or back (not while it has an open journey)."""
    if status not in ("available", "out_of_service"):
        raise JourneyInputError("unit status must be available or out_of_service")
    async with conn.transaction():
        await _check_vehicle_exists(conn, vehicle_id)
        cur = await conn.execute(
            "SELECT 1 FROM journeys WHERE vehicle_id = %s AND status <> ALL(%s)",
            (vehicle_id, list(CLOSED_STATUSES)),
        )
        if await cur.fetchone():
            raise JourneyConflictError("the vehicle has an open journey: close it first")
        await conn.execute(
            "INSERT INTO vehicle_state (vehicle_id, unit_status) VALUES (%s, %s)"
            " ON CONFLICT (vehicle_id) DO UPDATE SET unit_status = EXCLUDED.unit_status, updated_at = now()",
            (vehicle_id, status),
        )
        # The history behind the units' utilisation (analytics): every change, when it happened.
        await conn.execute(
            "INSERT INTO unit_status_log (vehicle_id, status, at) VALUES (%s, %s, now())",
            (vehicle_id, status),
        )


async def _check_vehicle_exists(conn: AsyncConnection, vehicle_id: int) -> None:
    cur = await conn.execute("SELECT 1 FROM vehicles WHERE id = %s", (vehicle_id,))
    if await cur.fetchone() is None:
        raise JourneyInputError(f"no vehicle with id {vehicle_id}")
