"""The common ingest every transport feeds: one ordered list of stages for every decoded fix.

    device -> per fix: FIX_CHECKS -> duplicate -> impossible jump -> (fix-time order) -> batch writer

A refusal at any stage is counted and logged with its reason, and never affects the other fixes
of the message or other messages. Whatever a message brought, its acknowledgement goes through
the batch writer, so it is sent only once the batch holding it has committed, in arrival order.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from gateway import metrics
from gateway.batch_writer import Ack, PositionBatchWriter
from gateway.checks import first_refusal
from gateway.decoded import FixFields
from gateway.dedupe import RecentFixes
from gateway.refusals import Reason, Refusal
from gateway.registry import DeviceEntry, DeviceRegistry
from gateway.settings import GatewaySettings
from tracking.geodesy import haversine_m
from tracking.model import Fix

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RefusalLog:
    """Counts every refusal; logs at most `burst` lines per reason per minute, then one summary of
    how many were suppressed, so a flood of garbage cannot flood the log."""

    def __init__(self, burst: int = 10) -> None:
        self._burst = burst
        self._window_start = time.monotonic()
        self._counts: defaultdict[Reason, int] = defaultdict(int)

    def refused(self, refusal: Refusal, transport: str, source: str) -> None:
        metrics.REFUSED.labels(refusal.reason.value).inc()
        metrics.REFUSED_BY_PROTOCOL.labels(transport, refusal.reason.value).inc()
        now = time.monotonic()
        if now - self._window_start > 60:
            suppressed = {str(r): n - self._burst for r, n in self._counts.items() if n > self._burst}
            if suppressed:
                log.warning("suppressed refusal logs in the last minute: %s", suppressed)
            self._counts.clear()
            self._window_start = now
        self._counts[refusal.reason] += 1
        if self._counts[refusal.reason] <= self._burst:
            log.warning("refused %s from %s: %s", transport, source, refusal)


class LastFixes:
    """The newest accepted fix time and place of each device, for the impossible-jump check."""

    def __init__(self, max_devices: int = 100_000) -> None:
        self._max_devices = max_devices
        self._last: dict[str, tuple[datetime, float, float]] = {}

    def jump_refusal(self, device_id: str, f: FixFields, max_kmh: float, min_m: float) -> Refusal | None:
        """A refusal when reaching `f` from the device's last fix needs more than `max_kmh`.

        Only fixes newer than the last one are judged (and remembered): backlog records are
        checked by time and range only, as their neighbours are not known here.
        """
        last = self._last.get(device_id)
        if last is not None and f.fix_time <= last[0]:
            return None
        if last is not None:
            dt = (f.fix_time - last[0]).total_seconds()
            distance = haversine_m(last[1], last[2], f.lat, f.lon)
            if distance > min_m and distance / dt * 3.6 > max_kmh:
                return Refusal(Reason.IMPOSSIBLE_JUMP, f"{distance:.0f} m in {dt:.0f} s")
        if len(self._last) >= self._max_devices and device_id not in self._last:
            self._last.pop(next(iter(self._last)))
        self._last[device_id] = (f.fix_time, f.lat, f.lon)
        return None


class FixIngest:
    """Validates, de-duplicates and batches the fixes of every transport."""

    def __init__(
        self,
        settings: GatewaySettings,
        registry: DeviceRegistry,
        writer: PositionBatchWriter,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self._registry = registry
        self._writer = writer
        self.clock = clock
        self._recent = RecentFixes(settings.dedupe_window)
        self._last = LastFixes()
        self._refusals = RefusalLog()

    async def device(self, device_id: str, transport: str, source: str) -> DeviceEntry | None:
        """The registered, enabled device with this id; otherwise the refusal is counted and None returned."""
        device = await self._registry.lookup(device_id)
        if device is None:
            self.refuse(Refusal(Reason.UNKNOWN_DEVICE, device_id[:64]), transport, source)
        elif not device.enabled:
            self.refuse(Refusal(Reason.DEVICE_DISABLED, device_id), transport, source)
            return None
        return device

    def refuse(self, refusal: Refusal, transport: str, source: str) -> None:
        self._refusals.refused(refusal, transport, source)

    async def submit(
        self,
        transport: str,
        device: DeviceEntry | None,
        items: Sequence[FixFields | Refusal],
        ack: Ack,
        received_at: datetime | None = None,
    ) -> int:
        """Run one message's decoded fixes (or decoding refusals) through the stages and queue the
        survivors with `ack`; returns how many were queued. `ack` runs after the commit even when
        nothing survived, keeping acknowledgements in arrival order."""
        received_at = received_at or self.clock()
        metrics.MESSAGES.labels(transport).inc()
        fixes: list[Fix] = []
        if device is not None:
            metrics.FIXES_RECEIVED.labels(transport).inc(len(items))
            for item in sorted(items, key=_fix_time_or_min):
                fix = self._accept(item, device, received_at, transport)
                if isinstance(fix, Refusal):
                    self.refuse(fix, transport, device.device_id)
                else:
                    fixes.append(fix)
        await self._writer.add(fixes, ack, transport)
        return len(fixes)

    async def after_commit(self, ack: Ack, transport: str = "unknown") -> None:
        """Queue an acknowledgement that carries no fix, keeping its place after earlier ones."""
        await self._writer.add((), ack, transport)

    def _accept(
        self, item: FixFields | Refusal, device: DeviceEntry, received_at: datetime, transport: str
    ) -> Fix | Refusal:
        if isinstance(item, Refusal):
            return item
        s = self.settings
        refusal = first_refusal(item, received_at, s)
        if refusal is not None:
            return refusal
        if self._recent.seen_before(device.device_id, item.fix_time):
            return Refusal(Reason.DUPLICATE, item.fix_time.isoformat())
        if item.valid:
            refusal = self._last.jump_refusal(device.device_id, item, s.max_jump_kmh, s.jump_min_distance_m)
            if refusal is not None:
                return refusal
        return to_fix(item, device, received_at, transport)


def _fix_time_or_min(item: FixFields | Refusal) -> datetime:
    return item.fix_time if isinstance(item, FixFields) else datetime.min.replace(tzinfo=UTC)


def to_fix(fields: FixFields, device: DeviceEntry, received_at: datetime, protocol: str) -> Fix:
    return Fix(
        device_id=device.device_id,
        vehicle_id=device.vehicle_id,
        fix_time=fields.fix_time,
        received_at=received_at,
        lat=fields.lat,
        lon=fields.lon,
        protocol=protocol,
        speed_kmh=fields.speed_kmh,
        course=None if fields.course is None else fields.course % 360.0,
        altitude_m=fields.altitude_m,
        accuracy_m=fields.accuracy_m,
        hdop=fields.hdop,
        satellites=fields.satellites,
        valid=fields.valid,
        backlog=fields.backlog,
        attributes=fields.attributes or {},
    )
