"""Querying stored events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from tracking.tracking_store import EVENT_COLUMNS, event_json


async def list_events(
    conn: AsyncConnection,
    *,
    vehicle_id: int | None = None,
    journey_id: int | None = None,
    kinds: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    hospital_id: int | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Newest first. `hospital_id` confines to events about that hospital or its inbound journeys."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT {EVENT_COLUMNS} FROM events e
            WHERE (%(vehicle)s::bigint IS NULL OR e.vehicle_id = %(vehicle)s)
              AND (%(journey)s::bigint IS NULL OR e.journey_id = %(journey)s)
              AND (%(kinds)s::text[] IS NULL OR e.kind = ANY(%(kinds)s))
              AND (%(start)s::timestamptz IS NULL OR e.at >= %(start)s)
              AND (%(end)s::timestamptz IS NULL OR e.at < %(end)s)
              AND (%(hospital)s::bigint IS NULL OR e.hospital_id = %(hospital)s
                   OR e.journey_id IN (SELECT id FROM journeys WHERE destination_hospital_id = %(hospital)s))
            ORDER BY e.at DESC, e.id DESC
            LIMIT %(limit)s
            """,
            {
                "vehicle": vehicle_id,
                "journey": journey_id,
                "kinds": kinds,
                "start": start,
                "end": end,
                "hospital": hospital_id,
                "limit": limit,
            },
        )
        return [event_json(r) for r in await cur.fetchall()]
