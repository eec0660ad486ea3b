"""The common ingest every transport feeds: one ordered list of stages for every decoded fix.

    device -> per fix: FIX_CHECKS -> duplicate -> impossible jump -> (fix-time order) -> batch writer

A refusal at any stage is counted and logged with its reason, and never affects the other fixes
of the message or other messages. An exception while decoding or checking one message (a poison
payload, a decoder bug) refuses that message or fix as `decode_error`: it never ends a task. Whatever a message brought, its acknowledgement goes through
the batch writer, so it is sent only once the batch holding it has committed, in arrival order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from gateway import metrics
from gateway.batch_writer import Ack, PositionBatchWriter
from gateway.checks import first_refusal
from gateway.decoded import FixFields
from gateway.dedupe import RecentFixes
from gateway.refusals import Reason, Refusal, RefusalLog, error_refusal
from gateway.registry import DeviceEntry, DeviceRegistry
from gateway.sessions import DeviceSessions
from gateway.settings import GatewaySettings
from tracking.geodesy import haversine_m
from tracking.model import Fix

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# What a handler's decoding of one message yields: the device (None: refused) and its fixes.
Decoded = tuple[DeviceEntry | None, Sequence[FixFields | Refusal]]

__all__ = ["Decoded", "FixIngest", "LastFixes", "RefusalLog", "to_fix", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        # One live TCP session per device (GT06, Teltonika and H02 carry no credential).
        self.sessions = DeviceSessions(settings.allow_concurrent_sessions, settings.session_stale_s)

    async def device(
        self, device_id: str, transport: str, source: str, address: str | None = None
    ) -> DeviceEntry | None:
        """The registered, enabled device with this id, speaking from `address` (the source IP of a
        TCP, UDP or HTTP device; None over the broker, which authenticates its own clients) within
        its allowed networks; otherwise the refusal is counted and None returned."""
        return self._admit(await self._registry.lookup(device_id), device_id, transport, source, address)

    async def device_nowait(
        self, device_id: str, transport: str, source: str, address: str | None = None
    ) -> DeviceEntry | None:
        """As `device`, without waiting for a registry reload (see DeviceRegistry.lookup_nowait)."""
        entry = await self._registry.lookup_nowait(device_id)
        return self._admit(entry, device_id, transport, source, address)

    def _admit(
        self, device: DeviceEntry | None, device_id: str, transport: str, source: str, address: str | None
    ) -> DeviceEntry | None:
        if device is None:
            self.refuse(Refusal(Reason.UNKNOWN_DEVICE, device_id[:64]), transport, source)
        elif not device.enabled:
            self.refuse(Refusal(Reason.DEVICE_DISABLED, device_id), transport, source)
            return None
        elif address is not None and not device.allows(address):
            self.refuse(Refusal(Reason.SOURCE_NOT_ALLOWED, f"{device_id} from {address}"), transport, source)
            return None
        return device

    def refuse(self, refusal: Refusal, transport: str, source: str) -> None:
        self._refusals.refused(refusal, transport, source)

    def refuse_error(self, exc: BaseException, transport: str, source: str) -> None:
        """Refuse a message whose decoding or checking raised `exc` (counted as decode_error)."""
        self._refusals.failed(exc, transport, source)

    async def handle_message(
        self, transport: str, source: str, ack: Ack, decode: Callable[[], Awaitable[Decoded]]
    ) -> int:
        """The error boundary of one message: `decode` it, then submit what it brought. If
        decoding raises, the message is refused (decode_error) and still acknowledged after the
        messages before it: redelivering a poison message can only fail again. Errors of the
        submission itself (the writer) are not the message's fault and propagate."""
        received_at = self.clock()
        try:
            device, items = await decode()
        except Exception as exc:
            self.refuse_error(exc, transport, source)
            device, items = None, ()
        return await self.submit(transport, device, items, ack, received_at)

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
            for item in _in_time_order(items):
                fix = self._accept_guarded(item, device, received_at, transport)
                if isinstance(fix, Refusal):
                    self.refuse(fix, transport, device.device_id)
                else:
                    fixes.append(fix)
        await self._writer.add(fixes, ack, transport)
        return len(fixes)

    async def after_commit(self, ack: Ack, transport: str = "unknown") -> None:
        """Queue an acknowledgement that carries no fix, keeping its place after earlier ones."""
        await self._writer.add((), ack, transport)

    def _accept_guarded(
        self, item: FixFields | Refusal, device: DeviceEntry, received_at: datetime, transport: str
    ) -> Fix | Refusal:
        """`_accept`, where a check that raises refuses this fix only (every transport passes here)."""
        try:
            return self._accept(item, device, received_at, transport)
        except Exception as exc:
            log.debug("checking a fix of %s raised", device.device_id, exc_info=exc)
            return error_refusal(exc)

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


def _in_time_order(items: Sequence[FixFields | Refusal]) -> list[FixFields | Refusal]:
    """The items oldest first; as received if their times cannot be compared (a decoder that
    produced a naive time: the checks then refuse that fix alone)."""
    try:
        return sorted(items, key=_fix_time_or_min)
    except TypeError:
        return list(items)


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
