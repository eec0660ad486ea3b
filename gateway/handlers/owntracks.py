"""OwnTracks phones over MQTT: `owntracks/<user>/<device>`, registered as device `<user>.<device>`.

The broker authenticates each phone (username = its device id) and its ACL lets it publish only
to its own topic (tracking/broker_auth.py), so the topic is the phone's identity.
"""

from __future__ import annotations

from gateway import metrics
from gateway.batch_writer import Ack
from gateway.ingest import FixIngest
from gateway.protocols.owntracks import TOPIC_FILTER, Ignored, decode, device_id_from_topic
from gateway.refusals import Reason, Refusal

PROTOCOL = "owntracks"
_MESSAGE_REFUSALS = frozenset({Reason.BAD_JSON, Reason.BAD_SHAPE, Reason.ENCRYPTED})


class OwnTracksHandler:
    """Turns one OwnTracks message into at most one fix; acknowledges every message after the
    commit of what came before it (a refused or ignored message cannot be repaired by redelivery)."""

    topic_filter = TOPIC_FILTER

    def __init__(self, ingest: FixIngest) -> None:
        self._ingest = ingest

    async def handle(self, topic: str, payload: bytes, ack: Ack) -> None:
        ingest = self._ingest
        received_at = ingest.clock()
        source = topic[:80]
        if len(payload) > ingest.settings.max_payload_bytes:
            return await self._refuse(Refusal(Reason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes"), source, ack)
        device_id = device_id_from_topic(topic)
        if isinstance(device_id, Refusal):
            return await self._refuse(device_id, source, ack)
        decoded = decode(payload)
        if isinstance(decoded, Ignored):
            metrics.IGNORED_MESSAGES.labels(PROTOCOL, decoded.type).inc()
            return await ingest.after_commit(ack, PROTOCOL)
        if isinstance(decoded, Refusal) and decoded.reason in _MESSAGE_REFUSALS:
            return await self._refuse(decoded, device_id, ack)
        device = await ingest.device(device_id, PROTOCOL, source)
        if device is not None and device.protocol != PROTOCOL:
            detail = f"{device_id} is registered for {device.protocol}"
            ingest.refuse(Refusal(Reason.WRONG_PROTOCOL, detail), PROTOCOL, source)
            device = None
        await ingest.submit(PROTOCOL, device, [decoded] if device else [], ack, received_at)

    async def _refuse(self, refusal: Refusal, source: str, ack: Ack) -> None:
        self._ingest.refuse(refusal, PROTOCOL, source)
        await self._ingest.submit(PROTOCOL, None, [], ack)
