"""OwnTracks phones over MQTT: `owntracks/<user>/<device>`, registered as device `<user>.<device>`.

The broker authenticates each phone (username = its device id) and its ACL lets it publish only
to its own topic (admin/broker_auth.py), so the topic is the phone's identity.
"""

from __future__ import annotations

from gateway import metrics
from gateway.batch_writer import Ack
from gateway.ingest import Decoded, FixIngest
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
        """Decode and submit one message; whatever decoding raises refuses this message only."""
        await self._ingest.handle_message(PROTOCOL, topic[:80], ack, lambda: self._decode(topic, payload))

    async def _decode(self, topic: str, payload: bytes) -> Decoded:
        ingest = self._ingest
        source = topic[:80]
        if len(payload) > ingest.settings.max_payload_bytes:
            return self._refuse(Refusal(Reason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes"), source)
        device_id = device_id_from_topic(topic)
        if isinstance(device_id, Refusal):
            return self._refuse(device_id, source)
        decoded = decode(payload)
        if isinstance(decoded, Ignored):
            metrics.IGNORED_MESSAGES.labels(PROTOCOL, decoded.type).inc()
            return None, []
        if isinstance(decoded, Refusal) and decoded.reason in _MESSAGE_REFUSALS:
            return self._refuse(decoded, device_id)
        device = await ingest.device(device_id, PROTOCOL, source)
        return device, [decoded] if device else []

    def _refuse(self, refusal: Refusal, source: str) -> Decoded:
        self._ingest.refuse(refusal, PROTOCOL, source)
        return None, []
