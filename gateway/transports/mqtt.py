"""MQTT transport: a persistent, shared subscription whose PUBACKs wait for the commit, and the
relay of committed fixes to the API processes.

aiomqtt acknowledges QoS 1 messages as soon as they are received; paho-mqtt 2 (which it wraps)
can leave that to the application (`manual_ack`). We switch it on and send each PUBACK only
when the batch holding the message has committed. A gateway killed before that never
acknowledged the message, so the broker redelivers it to the next session with the same id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import aiomqtt

from gateway import metrics
from gateway.batch_writer import Ack
from tracking.config import MqttEndpoint
from tracking.model import StoredFix
from tracking.topics import COMMITTED_ETAS, COMMITTED_EVENTS, COMMITTED_FIXES

log = logging.getLogger(__name__)


class MqttHandler(Protocol):
    """Decodes the messages of one topic filter (e.g. `trackers/+/position`)."""

    topic_filter: str

    async def handle(self, topic: str, payload: bytes, ack: Ack) -> None: ...


RELAY_CHUNK = 500  # fixes per relay message, well under the broker's packet limit


class ManualAckClient(aiomqtt.Client):
    """An aiomqtt client whose QoS 1/2 messages are acknowledged by `ack`, not on receipt."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client.manual_ack_set(True)

    def ack(self, message: aiomqtt.Message) -> None:
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)


class MqttIngest:
    """Consumes each handler's topic as `$share/{group}/{filter}` with a persistent session, and
    reconnects with jittered exponential backoff around the client."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        share_group: str,
        handlers: Sequence[MqttHandler],
        on_disconnect_drain: Callable[[], Awaitable[None]],
    ) -> None:
        self._endpoint = endpoint
        self._client_id = client_id
        self._share_group = share_group
        self._handlers = list(handlers)
        self._drain = on_disconnect_drain
        self._client: ManualAckClient | None = None
        # Message ids are per connection: an ack computed on an old connection must never be
        # sent on a new one, where the same mid may name another, uncommitted, message.
        self._epoch = 0

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._session()
                delay = 0.5
            except aiomqtt.MqttError as exc:
                metrics.MQTT_CONNECTED.set(0)
                wait = delay * random.uniform(0.5, 1.5)
                log.warning("broker connection lost (%s); reconnecting in %.1f s", exc, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, 30.0)

    async def _session(self) -> None:
        client = ManualAckClient(
            self._endpoint.host,
            self._endpoint.port,
            username=self._endpoint.username,
            password=self._endpoint.password,
            identifier=self._client_id,
            clean_session=False,
            keepalive=30,
        )
        async with client:
            self._epoch += 1
            epoch = self._epoch
            self._client = client
            metrics.MQTT_CONNECTED.set(1)
            log.info("connected to %s:%d as %s", self._endpoint.host, self._endpoint.port, self._client_id)
            try:
                for handler in self._handlers:
                    await client.subscribe(f"$share/{self._share_group}/{handler.topic_filter}", qos=1)
                async for message in client.messages:
                    ack = self._acker(client, epoch, message)
                    chosen = self._handler_for(message.topic)
                    if chosen is None:  # a topic no handler asked for: nothing to store
                        ack()
                        continue
                    await chosen.handle(str(message.topic), _payload_bytes(message.payload), ack)
            finally:
                # On shutdown, commit and acknowledge what was read while the connection is still up.
                await asyncio.shield(self._drain())
                self._client = None
                metrics.MQTT_CONNECTED.set(0)

    def _handler_for(self, topic: aiomqtt.Topic) -> MqttHandler | None:
        return next((h for h in self._handlers if topic.matches(h.topic_filter)), None)

    def _acker(self, client: ManualAckClient, epoch: int, message: aiomqtt.Message) -> Ack:
        def ack() -> None:
            if epoch == self._epoch and self._client is client:
                client.ack(message)

        return ack

    async def publish_events(self, events: list[dict[str, Any]]) -> None:
        """Relay new events (SOS, status changes...) to every API process, with QoS 1."""
        client = self._client
        if client is None:
            return
        await client.publish(
            COMMITTED_EVENTS, json.dumps({"events": events}, separators=(",", ":"), default=str), qos=1
        )

    async def publish_etas(self, etas: list[dict[str, Any]]) -> None:
        """Relay updated ETAs (QoS 0: the next fix brings a fresher one)."""
        client = self._client
        if client is None:
            return
        await client.publish(COMMITTED_ETAS, json.dumps({"etas": etas}, separators=(",", ":")), qos=0)

    async def publish_committed(self, stored: list[StoredFix]) -> None:
        """Relay committed fixes to every API process (QoS 0: a live view, the database is the record)."""
        client = self._client
        if client is None:
            return
        for start in range(0, len(stored), RELAY_CHUNK):
            chunk = [s.to_json() for s in stored[start : start + RELAY_CHUNK]]
            await client.publish(COMMITTED_FIXES, json.dumps({"fixes": chunk}, separators=(",", ":")), qos=0)


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return b"" if payload is None else str(payload).encode()
