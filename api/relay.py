"""Receives the gateway's committed fixes and events from the broker and hands them to the stream hub."""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any

import aiomqtt

from api.hub import StreamHub
from tracking.config import MqttEndpoint
from tracking.mqtt import keep_connected
from tracking.topics import COMMITTED_ETAS, COMMITTED_EVENTS, COMMITTED_FIXES

log = logging.getLogger(__name__)


class CommittedFixRelay:
    """Subscribes (not shared: every API process gets every fix) and reconnects with backoff."""

    def __init__(self, endpoint: MqttEndpoint, hub: StreamHub, client_id_prefix: str) -> None:
        self._endpoint = endpoint
        self._hub = hub
        self._client_id = f"{client_id_prefix}-{socket.gethostname()}-{os.getpid()}"
        self.connected = False
        self._client: aiomqtt.Client | None = None

    async def run(self) -> None:
        await keep_connected(self._endpoint, self._client_id, self._session, log, "relay")

    async def _session(self, client: aiomqtt.Client) -> None:
        self._client = client
        try:
            await client.subscribe(COMMITTED_FIXES, qos=0)
            await client.subscribe(COMMITTED_EVENTS, qos=1)
            await client.subscribe(COMMITTED_ETAS, qos=0)
            self.connected = True
            async for message in client.messages:
                kind = str(message.topic).rsplit("/", 1)[-1]  # fixes, events or etas
                self._forward(message.payload, kind)
        finally:
            self.connected = False
            self._client = None

    def _forward(self, payload: object, kind: str) -> None:
        try:
            items = json.loads(payload)[kind]  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed relay message")
            return
        if isinstance(items, list):
            self._hub.publish(kind, items)

    async def publish_events(self, events: list[dict[str, Any]]) -> None:
        """Share events raised here (a dispatcher's action) with every API process's clients."""
        if not events:
            return
        body = json.dumps({"events": events}, separators=(",", ":"), default=str)
        client = self._client
        if client is not None:
            try:
                await client.publish(COMMITTED_EVENTS, body, qos=1)
                return
            except aiomqtt.MqttError:
                log.warning(
                    "could not publish %d events; showing them to this process's clients only", len(events)
                )
        self._hub.publish("events", events)
