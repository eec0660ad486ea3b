"""The common ingest every transport feeds: one ordered list of stages for every decoded fix.

    device -> per fix: FIX_CHECKS -> duplicate -> impossible jump -> (fix-time order) -> batch writer

A position is stored once per (device, fix time), but an alarm is never de-duplicated away: a fix
at a time already seen that brings a new alarm is stored as *alarm only* (see gateway.dedupe).
An impossible jump is not refused: the fix is stored flagged `suspect` and not valid (gateway/jumps.py).

A refusal at any stage is counted and logged with its reason, and never affects the other fixes
of the message or other messages. An exception while decoding or checking one message (a poison
payload, a decoder bug) refuses that message or fix as `decode_error`: it never ends a task.
Whatever a message brought, its acknowledgement goes through the batch writer, so it is sent only
once the batch holding it has committed, in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from fixes.model import Fix
from gateway import metrics
from gateway.batch_writer import Ack, PositionBatchWriter
from gateway.checks import first_refusal
from gateway.contact import ContactLog
from gateway.decoded import FixFields
from gateway.dedupe import DUPLICATE, NEW, RecentFixes, alarm_of
from gateway.jumps import LastFixes, Place
from gateway.refusals import Reason, Refusal, RefusalLog, error_refusal
from gateway.registry import DeviceEntry, DeviceRegistry
from gateway.sessions import DeviceSessions
from gateway.settings import GatewaySettings
from tracking.tracking_store import EVENT_COLUMNS, event_json

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# What a handler's decoding of one message yields: the device (None: refused) and its fixes.
Decoded = tuple[DeviceEntry | None, Sequence[FixFields | Refusal]]
# How far back the fix times of a device are read when this process first hears it (dedupe).
HISTORY_LOOKBACK = timedelta(days=1)
WARM_CHUNK = 1000  # devices read per query when the gateway warms its memory

__all__ = ["Decoded", "FixIngest", "RefusalLog", "to_fix", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        self.sessions = DeviceSessions(
            settings.allow_concurrent_sessions, settings.session_stale_s, on_duplicate=self._duplicate_session
        )
        # Where events the gateway raises itself go live (the gateway process sets it to its relay).
        self.on_events: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None
        self._background: set[asyncio.Task[None]] = set()
        # Where heartbeats are noted (the gateway process sets it; see gateway/contact.py).
        self.contact: ContactLog | None = None

    def _duplicate_session(
        self, device_id: str, protocol: str, address: str, held_by: str, outcome: str
    ) -> None:
        """A second live session for a device from another address: what a forged IMEI looks like.
        Raised as a `duplicate_session` event (stored, and live on the dispatchers' screens)."""
        task = asyncio.get_running_loop().create_task(
            self._raise_event(
                device_id,
                "duplicate_session",
                "warning",
                {
                    "protocol": protocol,
                    "address": address,
                    "session_address": held_by,
                    "outcome": outcome,
                    "device_id": device_id,
                },
            )
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def heard(self, device: DeviceEntry) -> None:
        """`device` spoke without a fix (a heartbeat): it is connected, whatever its GPS says."""
        if self.contact is not None:
            self.contact.heard(device, self.clock())

    async def settle(self) -> None:
        """Wait for the events being raised on their own tasks (shutdown, tests)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _raise_event(self, device_id: str, kind: str, severity: str, details: dict[str, Any]) -> None:
        entry = await self._registry.lookup(device_id)
        vehicle_id = entry.vehicle_id if entry else None
        try:
            async with self._registry.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(
                    "INSERT INTO events (at, kind, severity, vehicle_id, details)"
                    f" VALUES (now(), %s, %s, %s, %s::jsonb) RETURNING {EVENT_COLUMNS}",
                    (kind, severity, vehicle_id, json.dumps(details)),
                )
                row = await cur.fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("could not store a %s event of %s (%s)", kind, device_id, type(exc).__name__)
            return
        metrics.EVENTS_RAISED.labels(kind).inc()
        if row is not None and self.on_events is not None:
            try:
                await self.on_events([event_json(row)])
            except Exception:  # the relay is best effort: the event is stored
                log.exception("relaying a %s event failed", kind)

    async def device(
        self, device_id: str, protocol: str, source: str, address: str | None = None
    ) -> DeviceEntry | None:
        """The registered, enabled device with this id, registered for `protocol` (a GT06 IMEI
        must not be speakable over HTTP by whoever knows it), speaking from `address` (the source IP
        of a TCP, UDP or HTTP device; None over the broker, which authenticates its own clients)
        within its allowed networks; otherwise the refusal is counted and None returned."""
        return self._admit(await self._registry.lookup(device_id), device_id, protocol, source, address)

    async def device_nowait(
        self, device_id: str, protocol: str, source: str, address: str | None = None
    ) -> DeviceEntry | None:
        """As `device`, without waiting for a registry reload (see DeviceRegistry.lookup_nowait)."""
        entry = await self._registry.lookup_nowait(device_id)
        return self._admit(entry, device_id, protocol, source, address)

    async def open_session(
        self,
        protocol: str,
        device_id: str,
        bound_id: str | None,
        source: str,
        address: str | None,
        claim: Callable[[str], bool] | None,
    ) -> DeviceEntry | str:
        """The device a connection (TCP session, or an H02 UDP link) may speak for, or why not:
        a connection already bound to `bound_id` speaks for that device only (a second identity on
        it is not believed); the device must pass `device`; and `claim` (the connection's claim on
        the device's one live session, None where there is none) must succeed. A refusal is counted
        and logged here; the reason returned is what the transport closes the connection with."""
        if bound_id is not None and device_id != bound_id:
            self.refuse(
                Refusal(Reason.BAD_FRAME, f"{device_id} on a connection of {bound_id}"), protocol, source
            )
            return "identity change"
        device = await self.device(device_id, protocol, source, address)
        if device is None:
            return "device refused"
        if claim is not None and not claim(device_id):
            detail = f"{device_id} already has a live session from another address"
            self.refuse(Refusal(Reason.DUPLICATE_SESSION, detail), protocol, source)
            return "duplicate session"
        return device

    def _admit(
        self, device: DeviceEntry | None, device_id: str, protocol: str, source: str, address: str | None
    ) -> DeviceEntry | None:
        refusal = None
        if device is None:
            refusal = Refusal(Reason.UNKNOWN_DEVICE, device_id[:64])
        elif not device.enabled:
            refusal = Refusal(Reason.DEVICE_DISABLED, device_id)
        elif device.protocol != protocol:
            refusal = Refusal(Reason.WRONG_PROTOCOL, f"{device_id} is registered for {device.protocol}")
        elif address is not None and not device.allows(address):
            refusal = Refusal(Reason.SOURCE_NOT_ALLOWED, f"{device_id} from {address}")
        if refusal is not None:
            self.refuse(refusal, protocol, source)
            return None
        return device

    def refuse(self, refusal: Refusal, transport: str, source: str) -> None:
        self._refusals.refused(refusal, transport, source)

    def decode_despite_checksum(self, protocol: str, mode: str, detail: str, source: str) -> bool:
        """A frame whose checksum is wrong: counted; in `strict` mode refused (False: no reply, so
        the device sends it again), in `lenient` mode logged and decoded anyway (True)."""
        metrics.CHECKSUM_ERRORS.labels(protocol).inc()
        if mode == "strict":
            self.refuse(Refusal(Reason.BAD_CHECKSUM, detail), protocol, source)
            return False
        log.info("%s: %s; decoded anyway (lenient)", source, detail)
        return True

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
            await self._warm(device)
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

    async def submit_alarm(
        self,
        transport: str,
        device: DeviceEntry,
        attributes: Mapping[str, Any],
        ack: Ack,
        received_at: datetime | None = None,
    ) -> int:
        """An alarm that came without a position (a GT06 heartbeat): stored as a fix without GPS
        (not valid) at the device's last known position, stamped when received and marked
        `position_from_last_known` (with `last_fix_time`), so the tracking worker raises it. With
        no position known at all it can only be logged; `ack` runs after the commit either way."""
        received_at = received_at or self.clock()
        await self._warm(device)
        last = self._last.last_position(device.device_id)
        if last is None:
            log.warning("%s: alarm %s with no known position: not stored", device.device_id, dict(attributes))
            await self.after_commit(ack, transport)
            return 0
        fields = FixFields(
            received_at,
            last[1],
            last[2],
            valid=False,
            attributes={**attributes, "position_from_last_known": True, "last_fix_time": last[0].isoformat()},
        )
        return await self.submit(transport, device, [fields], ack, received_at)

    async def _warm(self, device: DeviceEntry) -> None:
        """On first hearing a device, read what is stored of it (see `warm`)."""
        if not self._last.knows(device.device_id):
            await self.warm([device])

    async def warm(self, devices: Sequence[DeviceEntry], chunk: int = WARM_CHUNK) -> int:
        """Read what is stored of devices not heard yet, `chunk` devices a query: each vehicle's
        latest position (the reference of the impossible-jump judge) and each device's recent fix
        times and alarms (so a restart de-duplicates as before it). The gateway warms every
        registered device this way before it takes messages, so no device's first message waits
        for its own queries (issue 14); a device registered later is warmed alone when first
        heard. A database error leaves those devices cold (judged without history). Returns how
        many devices were warmed."""
        cold = [d for d in devices if not self._last.knows(d.device_id)]
        for start in range(0, len(cold), chunk):
            part = cold[start : start + chunk]
            references: dict[int, Place] = {}
            try:  # on the registry's pool: the ingest has no connection of its own
                async with self._registry.pool.connection() as conn:
                    vehicles = sorted({d.vehicle_id for d in part if d.vehicle_id is not None})
                    if vehicles:
                        cur = await conn.execute(
                            "SELECT vehicle_id, fix_time, ST_Y(geom), ST_X(geom) FROM vehicle_latest"
                            " WHERE vehicle_id = ANY(%s)",
                            (vehicles,),
                        )
                        references = {r[0]: (r[1], r[2], r[3]) for r in await cur.fetchall()}
                    cur = await conn.execute(
                        "SELECT d.id, p.fix_time, p.attributes->>'alarm' FROM unnest(%s::text[]) AS d(id)"
                        " CROSS JOIN LATERAL (SELECT fix_time, attributes FROM positions"
                        " WHERE device_id = d.id AND fix_time > now() - %s"
                        " ORDER BY fix_time DESC LIMIT %s) AS p",
                        ([d.device_id for d in part], HISTORY_LOOKBACK, self.settings.dedupe_window),
                    )
                    for device_id, fix_time, alarm in await cur.fetchall():
                        self._recent.remember(device_id, fix_time, alarm)
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "%s: stored history not read (%s); judged without it",
                    part[0].device_id if len(part) == 1 else f"{len(part)} devices",
                    type(exc).__name__,
                )
            for d in part:
                self._last.seed(d.device_id, None if d.vehicle_id is None else references.get(d.vehicle_id))
        return len(cold)

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
        admitted = self._recent.admit(device.device_id, item.fix_time, alarm_of(item.attributes))
        if admitted == DUPLICATE:
            return Refusal(Reason.DUPLICATE, item.fix_time.isoformat())
        if admitted != NEW:  # its position is stored already: its alarm only, a moment later
            metrics.FLAGGED.labels("alarm_only").inc()
            attributes = {**(item.attributes or {}), "alarm_only": True}
            at = item.fix_time + timedelta(microseconds=admitted)
            item = replace(item, fix_time=at, valid=False, attributes=attributes)
        elif item.valid:
            jump = self._last.judge(
                device.device_id, item, s.max_jump_kmh, s.jump_min_distance_m, s.jump_confirm_fixes
            )
            if jump is not None:
                log.info("%s: suspect fix at %s: %s (stored flagged)", device.device_id, item.fix_time, jump)
                metrics.FLAGGED.labels("impossible_jump").inc()
                attributes = {**(item.attributes or {}), "suspect": "impossible_jump", "suspect_detail": jump}
                item = replace(item, valid=False, attributes=attributes)
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
