"""The project's own MQTT JSON trackers: `trackers/{device_id}/position`, one fix or an array."""

from __future__ import annotations

import dataclasses

from gateway.batch_writer import Ack
from gateway.decoded import FixFields
from gateway.ingest import FixIngest
from gateway.protocols.mqtt_json import parse_fix, split_payload
from gateway.refusals import Reason, Refusal
from gateway.registry import DeviceEntry
from messaging.device_topics import DEVICE_POSITION_FILTER, device_id_from_topic

PROTOCOL = "mqtt_json"


class MqttJsonHandler:
    """Turns one MQTT message into fixes for the ingest."""

    topic_filter = DEVICE_POSITION_FILTER

    def __init__(self, ingest: FixIngest) -> None:
        self._ingest = ingest

    async def handle(self, topic: str, payload: bytes, ack: Ack) -> None:
        """Decode and submit one message; whatever decoding raises refuses this message only."""
        await self._ingest.handle_message(PROTOCOL, topic[:80], ack, lambda: self._decode(topic, payload))

    async def _decode(
        self, topic: str, payload: bytes
    ) -> tuple[DeviceEntry | None, list[FixFields | Refusal]]:
        ingest, settings = self._ingest, self._ingest.settings
        source = topic[:80]
        if len(payload) > settings.max_payload_bytes:
            ingest.refuse(Refusal(Reason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes"), PROTOCOL, source)
            return None, []
        device_id = device_id_from_topic(topic)
        if device_id is None:
            ingest.refuse(Refusal(Reason.BAD_TOPIC, source), PROTOCOL, source)
            return None, []
        device = await ingest.device(device_id, PROTOCOL, source)
        if device is None:
            return None, []
        objects = split_payload(payload, settings.max_fixes_per_message)
        if isinstance(objects, Refusal):
            ingest.refuse(objects, PROTOCOL, device_id)
            return device, []
        items = [parse_fix(obj) for obj in objects]
        if len(items) > 1:  # an array is a backlog upload: the device buffered these fixes
            items = [dataclasses.replace(i, backlog=True) if isinstance(i, FixFields) else i for i in items]
        return device, items
