"""Durable storage of fixes: one COPY and one statement per batch, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from tracking.db import query
from tracking.model import Fix, StoredFix

_COPY_INCOMING = (
    "COPY incoming (seq, device_id, vehicle_id, fix_time, received_at, lat, lon, speed_kmh, course,"
    " altitude_m, accuracy_m, hdop, satellites, valid, backlog, protocol, attributes) FROM STDIN"
)


class PartitionCache:
    """Remembers which daily partitions of `positions` exist, so each is ensured once per process."""

    def __init__(self) -> None:
        self._known: set[date] = set()

    async def ensure(self, conn: AsyncConnection, fixes: Sequence[Fix]) -> None:
        """Create the partitions this batch needs (outside the batch's transaction)."""
        days = {f.fix_time.astimezone(UTC).date() for f in fixes} - self._known
        for day in sorted(days):
            await conn.execute("SELECT amb_ensure_position_partition(%s)", (day,))
            self._known.add(day)


async def prepare_connection(conn: AsyncConnection) -> None:
    """Create the connection's staging table (call once per connection)."""
    await conn.execute(query("create_incoming"))


async def store_fixes(conn: AsyncConnection, fixes: Sequence[Fix]) -> list[StoredFix]:
    """Store `fixes` in one transaction; returns those newly stored (duplicates are skipped).

    Idempotent: storing the same batch again stores nothing more, so a retried or redelivered
    batch is safe. The connection must have been prepared with `prepare_connection`.
    """
    if not fixes:
        return []
    async with conn.transaction(), conn.cursor() as cur:
        async with cur.copy(_COPY_INCOMING) as copy:
            for seq, f in enumerate(fixes):
                await copy.write_row(
                    (
                        seq,
                        f.device_id,
                        f.vehicle_id,
                        f.fix_time,
                        f.received_at,
                        f.lat,
                        f.lon,
                        f.speed_kmh,
                        f.course,
                        f.altitude_m,
                        f.accuracy_m,
                        f.hdop,
                        f.satellites,
                        f.valid,
                        f.backlog,
                        f.protocol,
                        Jsonb(f.attributes),
                    )
                )
        await cur.execute(query("store_fixes"))
        flags: dict[tuple[str, datetime], tuple[bool, bool]] = {
            (device_id, fix_time): (archived, latest)
            for device_id, fix_time, archived, latest in await cur.fetchall()
        }
    stored: list[StoredFix] = []
    for f in fixes:
        flag = flags.pop((f.device_id, f.fix_time), None)
        if flag is not None:
            stored.append(StoredFix(f, archived=flag[0], latest=flag[1]))
    return stored
