"""Which devices may speak, and for which vehicle: an in-memory copy of the `devices` table."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    device_id: str
    vehicle_id: int | None
    protocol: str
    enabled: bool
    token_hash: str | None = None  # SHA-256 hex of the device's HTTP token; None: the id alone


class DeviceRegistry:
    """Reloaded whole every `refresh_s`; an unknown id reloads it early, at most every `miss_refresh_s`,
    so a newly registered device is accepted within seconds while a flood of unknown ids costs
    one query per interval."""

    def __init__(self, pool: AsyncConnectionPool, refresh_s: float, miss_refresh_s: float) -> None:
        self._pool = pool
        self._refresh_s = refresh_s
        self._miss_refresh_s = miss_refresh_s
        self._devices: dict[str, DeviceEntry] = {}
        self._loaded_at = float("-inf")

    async def lookup(self, device_id: str) -> DeviceEntry | None:
        now = time.monotonic()
        age = now - self._loaded_at
        entry = self._devices.get(device_id)
        if age > self._refresh_s or (entry is None and age > self._miss_refresh_s):
            await self.reload()
            entry = self._devices.get(device_id)
        return entry

    async def reload(self) -> None:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT id, vehicle_id, protocol, enabled, token_hash FROM devices")
            rows = await cur.fetchall()
        self._devices = {r[0]: DeviceEntry(*r) for r in rows}
        self._loaded_at = time.monotonic()
        log.debug("device registry reloaded: %d devices", len(rows))
