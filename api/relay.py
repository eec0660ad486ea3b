"""Receives what the gateways and the tracker committed (fixes, events, ETAs) from the broker and
hands it to this process's stream hub.

Every API process binds its own exclusive, bounded queue to `amb.committed` (not shared: each
process's websocket clients need everything). The queue lives only while the process is
connected and drops its oldest messages past `QUEUE_MAX`, so a stalled process never makes the
broker hold much; the database remains the record.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from api.hub import StreamHub
from messaging.connection import keep_connected, until_closed
from messaging.publisher import CommittedPublisher
from messaging.topology import COMMITTED_EXCHANGE, COMMITTED_KINDS, EVENTS
from runtime.config import AmqpEndpoint

log = logging.getLogger(__name__)
QUEUE_MAX = 20_000  # messages; at 1,000 fixes/s in chunks of 500 that is far more than a minute


class CommittedFixRelay:
    """Consumes `amb.committed` and reconnects with backoff; publishes the events raised here."""

    def __init__(self, endpoint: AmqpEndpoint, hub: StreamHub, client_id_prefix: str) -> None:
        self._endpoint = endpoint
        self._hub = hub
        self._name = f"{client_id_prefix}@{socket.gethostname()}:{os.getpid()}"
        self._publisher = CommittedPublisher(endpoint, self._name)
        self.connected = False

    async def run(self) -> None:
        await keep_connected(self._endpoint, self._name, self._session, log, "relay")

    async def _session(self, connection: AbstractConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=500)
        exchange = await channel.get_exchange(COMMITTED_EXCHANGE, ensure=True)
        queue = await channel.declare_queue(
            exclusive=True,
            auto_delete=True,
            arguments={"x-max-length": QUEUE_MAX, "x-overflow": "drop-head"},
        )
        for kind in COMMITTED_KINDS:
            await queue.bind(exchange, routing_key=kind)
        await queue.consume(self._on_message, no_ack=True)
        await self._publisher.attach(connection)
        self.connected = True
        try:
            await until_closed(connection)
        finally:
            self.connected = False
            self._publisher.detach()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        kind = message.routing_key or ""
        try:
            items = json.loads(message.body)[kind]
        except (ValueError, KeyError, TypeError, RecursionError):
            log.warning("ignoring a malformed relay message (%s)", kind[:20])
            return
        if isinstance(items, list):
            self._hub.publish(kind, items)

    async def publish_events(self, events: list[dict[str, Any]]) -> None:
        """Share events raised here (a dispatcher's action) with every API process's clients."""
        if not events:
            return
        if not await self._publisher.publish(EVENTS, {"events": events}):
            log.warning(
                "could not publish %d events; showing them to this process's clients only", len(events)
            )
            self._hub.publish("events", events)
