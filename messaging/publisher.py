"""Publishes committed data (fixes, events, ETAs) to every API process through `amb.committed`.

These messages feed live views only: the database is the record. They are not persistent and
are not queued for a process that is not connected; what cannot be published is skipped (and
logged) rather than holding up the stage that produced it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractExchange

from messaging.connection import CLOSING_ERRORS, keep_connected, until_closed
from messaging.topology import COMMITTED_EXCHANGE, ETAS, EVENTS, FIXES
from runtime.config import AmqpEndpoint

log = logging.getLogger(__name__)
CHUNK = 500  # items per message


class CommittedPublisher:
    """Holds a channel to `amb.committed` while connected; `run()` keeps it connected."""

    def __init__(self, endpoint: AmqpEndpoint, name: str) -> None:
        self._endpoint = endpoint
        self._name = name
        self._exchange: AbstractExchange | None = None

    @property
    def connected(self) -> bool:
        return self._exchange is not None

    async def run(self) -> None:
        await keep_connected(self._endpoint, self._name, self._session, log, "publisher")

    async def attach(self, connection: AbstractConnection) -> None:
        """Publish on an existing connection (the gateway shares its consumer's)."""
        channel = await connection.channel()
        self._exchange = await channel.get_exchange(COMMITTED_EXCHANGE, ensure=True)

    def detach(self) -> None:
        self._exchange = None

    async def _session(self, connection: AbstractConnection) -> None:
        await self.attach(connection)
        try:
            await until_closed(connection)
        finally:
            self.detach()

    async def publish_fixes(self, fixes: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(fixes), CHUNK):
            await self.publish(FIXES, {"fixes": list(fixes[start : start + CHUNK])})

    async def publish_events(self, events: list[dict[str, Any]]) -> None:
        await self.publish(EVENTS, {"events": events})

    async def publish_etas(self, etas: list[dict[str, Any]]) -> None:
        await self.publish(ETAS, {"etas": etas})

    async def publish(self, kind: str, body: dict[str, Any]) -> bool:
        """Publish one message; False when the broker is not reachable now."""
        exchange = self._exchange
        if exchange is None:
            log.debug("broker unavailable: %s not relayed (they are stored)", kind)
            return False
        message = aio_pika.Message(
            json.dumps(body, separators=(",", ":"), default=str).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        )
        try:
            await asyncio.wait_for(exchange.publish(message, routing_key=kind), 5)
        except CLOSING_ERRORS as exc:
            log.warning("could not relay %s (%s); they are stored", kind, type(exc).__name__)
            return False
        return True
