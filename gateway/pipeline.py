"""The gateway's pipeline: every message passes the same ordered stages, then the batch writer.

    message: size -> topic -> device -> split -> per fix: parse -> FIX_CHECKS -> dedupe -> batch

A refusal at any stage is counted and logged with its reason, and never affects the other fixes of
the message or other messages. Every message, refused or not, is acknowledged only once the batch
it belongs to is committed, so acknowledgements keep their order.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from gateway import metrics
from gateway.batch_writer import Ack, PositionBatchWriter
from gateway.checks import first_refusal
from gateway.dedupe import RecentFixes
from gateway.json_fixes import FixFields, parse_fix, split_payload
from gateway.refusals import Reason, Refusal
from gateway.registry import DeviceEntry, DeviceRegistry
from gateway.settings import GatewaySettings
from tracking.model import Fix
from tracking.topics import device_id_from_topic

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RefusalLog:
    """Logs refusals without letting a flood of garbage flood the log: at most `burst` lines per
    reason per minute, then one summary of how many were suppressed."""

    def __init__(self, burst: int = 10) -> None:
        self._burst = burst
        self._window_start = time.monotonic()
        self._counts: defaultdict[Reason, int] = defaultdict(int)

    def refused(self, refusal: Refusal, source: str) -> None:
        metrics.REFUSED.labels(refusal.reason.value).inc()
        now = time.monotonic()
        if now - self._window_start > 60:
            suppressed = {r: n - self._burst for r, n in self._counts.items() if n > self._burst}
            if suppressed:
                log.warning("suppressed refusal logs in the last minute: %s", suppressed)
            self._counts.clear()
            self._window_start = now
        self._counts[refusal.reason] += 1
        if self._counts[refusal.reason] <= self._burst:
            log.warning("refused from %s: %s", source, refusal)


class MqttJsonPipeline:
    """Turns one MQTT JSON message into stored fixes (or counted refusals)."""

    transport = "mqtt_json"

    def __init__(
        self,
        settings: GatewaySettings,
        registry: DeviceRegistry,
        writer: PositionBatchWriter,
        clock: Clock = utc_now,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._writer = writer
        self._clock = clock
        self._recent = RecentFixes(settings.dedupe_window)
        self._refusals = RefusalLog()

    async def handle(self, topic: str, payload: bytes, ack: Ack) -> None:
        """Process one message; `ack` is called once its outcome is durable."""
        received_at = self._clock()
        metrics.MESSAGES.labels(self.transport).inc()
        fixes: list[Fix] = []
        outcome = await self._accept_message(topic, payload)
        if isinstance(outcome, Refusal):
            self._refusals.refused(outcome, topic[:80])
        else:
            device, objects = outcome
            metrics.FIXES_RECEIVED.labels(self.transport).inc(len(objects))
            for obj in objects:
                fix = self._accept_fix(obj, device, received_at)
                if isinstance(fix, Refusal):
                    self._refusals.refused(fix, device.device_id)
                else:
                    fixes.append(fix)
        await self._writer.add(fixes, ack)

    async def _accept_message(self, topic: str, payload: bytes) -> tuple[DeviceEntry, list[object]] | Refusal:
        if len(payload) > self._settings.max_payload_bytes:
            return Refusal(Reason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes")
        device_id = device_id_from_topic(topic)
        if device_id is None:
            return Refusal(Reason.BAD_TOPIC, topic[:80])
        device = await self._registry.lookup(device_id)
        if device is None:
            return Refusal(Reason.UNKNOWN_DEVICE, device_id[:64])
        if not device.enabled:
            return Refusal(Reason.DEVICE_DISABLED, device_id)
        objects = split_payload(payload, self._settings.max_fixes_per_message)
        if isinstance(objects, Refusal):
            return objects
        return device, objects

    def _accept_fix(self, obj: object, device: DeviceEntry, received_at: datetime) -> Fix | Refusal:
        fields = parse_fix(obj)
        if isinstance(fields, Refusal):
            return fields
        refusal = first_refusal(fields, received_at, self._settings)
        if refusal is not None:
            return refusal
        if self._recent.seen_before(device.device_id, fields.fix_time):
            return Refusal(Reason.DUPLICATE, fields.fix_time.isoformat())
        return to_fix(fields, device, received_at, self.transport)


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
        attributes=fields.attributes or {},
    )
