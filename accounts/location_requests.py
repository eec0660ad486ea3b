"""Caller location requests: a dispatcher makes a public, single-use link for an incident (a journey,
or a call not yet dispatched); the caller opens it on a phone, agrees to share, and the page posts
the phone's position and accuracy a few times; the dispatcher accepts the position as the
incident's (the journey's scene moves, its route and ETAs follow). The link ends when accepted,
when the caller declines, or 30 minutes after it was made. Only the SHA-256 of the token is kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from fixes.model import iso_utc
from tracking.journey_machine import CLOSED_STATUSES
from tracking.journeys import JourneyConflictError, get_journey, lock_open_journey
from tracking.tracking_store import insert_event
from tracking.vehicle_rules import EventDraft

TOKEN_BYTES = 24  # 192 random bits
LIFETIME = timedelta(minutes=30)
MAX_REPORTS = 20  # a page sends a few; more is a script


class LocationRequestNotFoundError(LookupError):
    """No request has this id or token."""


class LocationRequestGoneError(LookupError):
    """The request was accepted, declined, or has expired."""


class LocationRequestEmptyError(ValueError):
    """The caller has not sent a position yet: there is nothing to accept."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


COLUMNS = (
    "id, journey_id, created_by, created_at, expires_at, lat, lon, accuracy_m, located_at, reports,"
    " refused_at, accepted_at, accepted_by"
)


def request_json(row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    out = dict(row)
    for key in ("created_at", "expires_at", "located_at", "refused_at", "accepted_at"):
        out[key] = iso_utc(row[key]) if row[key] is not None else None
    state = "waiting"
    if row["accepted_at"] is not None:
        state = "accepted"
    elif row["refused_at"] is not None:
        state = "refused"
    elif row["expires_at"] <= now:
        state = "expired"
    elif row["located_at"] is not None:
        state = "located"
    out["state"] = state
    out["position"] = (
        {"lat": row["lat"], "lon": row["lon"], "accuracy_m": row["accuracy_m"]}
        if row["lat"] is not None
        else None
    )
    for key in ("lat", "lon", "accuracy_m"):
        out.pop(key)
    return out


async def issue_location_request(
    conn: AsyncConnection, journey_id: int | None, created_by: str
) -> dict[str, Any]:
    """A new link (for an open journey, or for a call before dispatch). The token is returned once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with conn.transaction():
        if journey_id is not None:
            await lock_open_journey(conn, journey_id)
        async with conn.cursor(row_factory=dict_row) as cur2:
            await cur2.execute(
                f"INSERT INTO location_requests (journey_id, token_hash, created_by, expires_at)"
                f" VALUES (%s, %s, %s, now() + %s) RETURNING {COLUMNS}",
                (journey_id, token_hash(token), created_by, LIFETIME),
            )
            created = await cur2.fetchone()
    assert created is not None
    return {**request_json(created), "token": token, "url": f"/locate/{token}"}


async def get_location_request(conn: AsyncConnection, request_id: int) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM location_requests WHERE id = %s", (request_id,))
        row = await cur.fetchone()
    if row is None:
        raise LocationRequestNotFoundError(f"no location request with id {request_id}")
    return request_json(row)


async def _live_by_token(conn: AsyncConnection, token: str) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM location_requests WHERE token_hash = %s FOR UPDATE", (token_hash(token),)
        )
        row = await cur.fetchone()
    if row is None:
        raise LocationRequestNotFoundError("no such location link")
    if (
        row["accepted_at"] is not None
        or row["refused_at"] is not None
        or row["expires_at"] <= datetime.now(UTC)
    ):
        raise LocationRequestGoneError("this location link has expired")
    return row


async def link_state(conn: AsyncConnection, token: str) -> dict[str, Any]:
    """What the caller's page may know: only whether the link still works."""
    async with conn.transaction():
        row = await _live_by_token(conn, token)
    return {
        "state": "waiting" if row["located_at"] is None else "located",
        "expires_at": iso_utc(row["expires_at"]),
    }


async def report_position(
    conn: AsyncConnection, token: str, lat: float, lon: float, accuracy_m: float | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The caller's phone sends where it is; the dispatcher hears it (a `caller_location` event)."""
    now = datetime.now(UTC)
    async with conn.transaction():
        row = await _live_by_token(conn, token)
        if row["reports"] >= MAX_REPORTS:
            raise LocationRequestGoneError("this location link has expired")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "UPDATE location_requests SET lat = %s, lon = %s, accuracy_m = %s, located_at = %s,"
                f" reports = reports + 1 WHERE id = %s RETURNING {COLUMNS}",
                (lat, lon, accuracy_m, now, row["id"]),
            )
            updated = await cur.fetchone()
        assert updated is not None
        details = {"request_id": row["id"], "lat": lat, "lon": lon, "accuracy_m": accuracy_m}
        events = [await _event(conn, "caller_location", now, details, row["journey_id"])]
    return request_json(updated), events


async def refuse(conn: AsyncConnection, token: str) -> list[dict[str, Any]]:
    """The caller declined to share: the link ends, the dispatcher is told."""
    now = datetime.now(UTC)
    async with conn.transaction():
        row = await _live_by_token(conn, token)
        await conn.execute("UPDATE location_requests SET refused_at = %s WHERE id = %s", (now, row["id"]))
        return [
            await _event(conn, "caller_location_refused", now, {"request_id": row["id"]}, row["journey_id"])
        ]


async def accept(
    conn: AsyncConnection, request_id: int, actor: str
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
    """The dispatcher takes the caller's position as the incident's: the journey's scene moves
    there (its held ETA is dropped: the tracking worker routes to the new scene) and the link ends.
    Returns the request, the journey (None before dispatch) and the events raised."""
    now = datetime.now(UTC)
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM location_requests WHERE id = %s FOR UPDATE", (request_id,)
            )
            row = await cur.fetchone()
        if row is None:
            raise LocationRequestNotFoundError(f"no location request with id {request_id}")
        if row["accepted_at"] is not None or row["refused_at"] is not None:
            raise LocationRequestGoneError("this location request is closed")
        if row["lat"] is None:
            raise LocationRequestEmptyError("the caller has not shared a position yet")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"UPDATE location_requests SET accepted_at = %s, accepted_by = %s WHERE id = %s RETURNING {COLUMNS}",
                (now, actor, request_id),
            )
            accepted = await cur.fetchone()
        assert accepted is not None
        journey = None
        events: list[dict[str, Any]] = []
        if row["journey_id"] is not None:
            cur2 = await conn.execute(
                "UPDATE journeys SET incident_geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326), updated_at = now()"
                " WHERE id = %s AND status <> ALL(%s) RETURNING vehicle_id, destination_hospital_id",
                (row["lon"], row["lat"], row["journey_id"], list(CLOSED_STATUSES)),
            )
            moved = await cur2.fetchone()
            if moved is None:
                raise JourneyConflictError(f"journey {row['journey_id']} is closed")
            await conn.execute(
                "DELETE FROM journey_eta WHERE journey_id = %s AND target_kind = 'scene'",
                (row["journey_id"],),
            )
            details = {
                "request_id": request_id,
                "lat": row["lat"],
                "lon": row["lon"],
                "accuracy_m": row["accuracy_m"],
                "by": actor,
            }
            draft = EventDraft("incident_moved", now, "info", details, hospital_id=moved[1])
            events.append(await insert_event(conn, draft, moved[0], row["journey_id"], None))
            journey = await get_journey(conn, row["journey_id"])
    return request_json(accepted), journey, events


async def _event(
    conn: AsyncConnection, kind: str, at: datetime, details: dict[str, Any], journey_id: int | None
) -> dict[str, Any]:
    vehicle_id = None
    if journey_id is not None:
        cur = await conn.execute("SELECT vehicle_id FROM journeys WHERE id = %s", (journey_id,))
        row = await cur.fetchone()
        vehicle_id = row[0] if row else None
    return await insert_event(conn, EventDraft(kind, at, "info", details), vehicle_id, journey_id, None)
