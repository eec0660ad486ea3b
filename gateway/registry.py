"""Which devices may speak, and for which vehicle: an in-memory copy of the `devices` table."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)
MAX_RETRY_S = 30.0  # the longest wait between reload attempts in an outage


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    device_id: str
    vehicle_id: int | None
    protocol: str
    enabled: bool
    token_hash: str | None = None  # SHA-256 hex of the device's HTTP token; None: the id alone
    # Source networks it may speak from over TCP/UDP/HTTP; empty: any (devices.allowed_networks).
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def allows(self, address: str) -> bool:
        """Whether a connection from `address` (an IP address) may speak for this device."""
        if not self.allowed_networks:
            return True
        try:
            ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)


class DeviceRegistry:
    """Reloaded whole every `refresh_s`; an unknown id reloads it early, at most every `miss_refresh_s`,
    so a newly registered device is accepted within seconds while a flood of unknown ids costs
    one query per interval.

    In a database outage the last loaded copy keeps serving the devices it knows (a warning is
    logged, reloads are retried with backoff). An id it does not know is not refused as unknown
    while the registry cannot be loaded (it may have been registered meanwhile): its lookup waits
    until a reload succeeds. That holds the message unacknowledged (back-pressure) rather than
    refuse a possibly valid device; nothing could be stored during the outage anyway.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        refresh_s: float,
        miss_refresh_s: float,
        max_retry_s: float = MAX_RETRY_S,
    ) -> None:
        self._pool = pool
        self._refresh_s = refresh_s
        self._miss_refresh_s = miss_refresh_s
        self._max_retry_s = max_retry_s
        self._devices: dict[str, DeviceEntry] = {}
        self._loaded_at = float("-inf")
        self._failures = 0  # consecutive failed reloads; 0 while the copy is current
        self._retry_at = float("-inf")  # no reload before this after a failure
        self._lock = asyncio.Lock()  # one reload at a time, however many lookups want one
        self._reloads = 0
        self._background: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """False while the last reload failed (the copy may miss newly registered devices)."""
        return self._failures == 0

    @property
    def pool(self) -> AsyncConnectionPool:
        """The gateway's database pool (the ingest reads what is stored of a device through it)."""
        return self._pool

    def entries(self) -> list[DeviceEntry]:
        """Every device of the last loaded copy."""
        return list(self._devices.values())

    async def lookup(self, device_id: str) -> DeviceEntry | None:
        entry = self._devices.get(device_id)
        if entry is not None:
            # A known device never waits for the periodic reload (nor for a database that is down).
            if self._reload_due(missing=False):
                self._reload_in_background()
            return entry
        if self._reload_due(missing=True):
            await self._reload_once()
            entry = self._devices.get(device_id)
        while entry is None and not self.available:
            await asyncio.sleep(max(0.0, self._retry_at - time.monotonic()))
            await self._reload_once()
            entry = self._devices.get(device_id)
        return entry

    async def lookup_nowait(self, device_id: str) -> DeviceEntry | None:
        """As `lookup`, but an unknown id never waits: it schedules the reload (at most every
        `miss_refresh_s`) in the background and gets None now. For callers whose answer time must
        not tell a known id from an unknown one (OsmAnd over HTTP); the device's next try finds
        a newly registered id. Only the very first load (before any, whatever the id) is awaited."""
        if self._reloads == 0:
            await self._reload_once()
        entry = self._devices.get(device_id)
        if self._reload_due(missing=entry is None):
            self._reload_in_background()
        return entry

    async def reload(self) -> bool:
        """Load the whole table; True if it was loaded. On a database error the last copy is
        kept and False returned: a reload never ends the gateway, at start-up either."""
        self._reloads += 1
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT id, vehicle_id, protocol, enabled, token_hash, allowed_networks FROM devices"
                )
                rows = await cur.fetchall()
        except (psycopg.Error, OSError) as exc:  # PoolTimeout is an OperationalError
            self._failed(exc)
            return False
        self._devices = {
            r[0]: DeviceEntry(r[0], r[1], r[2], r[3], r[4], allowed_networks=tuple(r[5] or ())) for r in rows
        }
        self._loaded_at = time.monotonic()
        if self._failures:
            log.warning("device registry reloaded after %d failed attempts", self._failures)
        self._failures = 0
        log.debug("device registry reloaded: %d devices", len(rows))
        return True

    def _reload_due(self, missing: bool) -> bool:
        now = time.monotonic()
        if now < self._retry_at:
            return False
        age = now - self._loaded_at
        return age > self._refresh_s or (missing and age > self._miss_refresh_s) or not self.available

    def _reload_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self._reload_once(), name="device-registry-reload")

    async def _reload_once(self) -> None:
        """Reload, unless another lookup did while this one waited for the lock."""
        seen = self._reloads
        async with self._lock:
            if self._reloads == seen:
                await self.reload()

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        delay = min(self._max_retry_s, 0.5 * 2 ** min(self._failures - 1, 10)) * random.uniform(0.8, 1.2)
        self._retry_at = time.monotonic() + delay
        log.warning(
            "device registry reload failed (%s: %s); serving the %d devices loaded before, retrying in %.1f s",
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
            len(self._devices),
            delay,
        )
