"""When each tracker was last heard by messages that carry no fix (GT06 and H02 heartbeats), so
that a unit connected in a garage or a tunnel is not reported offline (`device_contact`).

Heartbeats are not fixes: nothing is stored in `positions`, and nothing waits on this for its
acknowledgement. Each device is noted at most once per `interval_s`, and what was noted is written
in one statement every `flush_s`; a write that fails is retried with the next one. Losing the last
few seconds of contact in a crash costs nothing but a late `device_online`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from gateway import metrics
from gateway.registry import DeviceEntry

log = logging.getLogger(__name__)

UPSERT = """
INSERT INTO device_contact AS c (device_id, vehicle_id, heard_at)
SELECT * FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[])
ON CONFLICT (device_id) DO UPDATE
    SET vehicle_id = EXCLUDED.vehicle_id, heard_at = greatest(c.heard_at, EXCLUDED.heard_at)
"""


class ContactLog:
    def __init__(self, pool: AsyncConnectionPool, interval_s: float = 30.0, flush_s: float = 5.0) -> None:
        self._pool = pool
        self._interval_s = interval_s
        self._flush_s = flush_s
        self._noted: dict[str, datetime] = {}  # last time written per device (bounded by the fleet)
        self._pending: dict[str, tuple[int | None, datetime]] = {}

    def heard(self, device: DeviceEntry, at: datetime) -> None:
        """Note that `device` spoke at `at` (a heartbeat)."""
        last = self._noted.get(device.device_id)
        if last is not None and (at - last).total_seconds() < self._interval_s:
            return
        self._noted[device.device_id] = at
        self._pending[device.device_id] = (device.vehicle_id, at)

    async def flush(self) -> int:
        """Write what was noted; returns how many devices. On failure, keeps it for the next flush."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        ids = list(pending)
        try:
            async with self._pool.connection() as conn:
                await conn.execute(UPSERT, (ids, [pending[i][0] for i in ids], [pending[i][1] for i in ids]))
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning(
                "could not write the contact of %d devices (%s); retrying", len(ids), type(exc).__name__
            )
            self._pending = {**pending, **self._pending}
            return 0
        metrics.CONTACTS_WRITTEN.inc(len(ids))
        return len(ids)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()
