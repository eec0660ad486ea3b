"""Receives the gateway's committed fixes from the broker and hands them to the stream hub."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket

import aiomqtt

from api.hub import StreamHub
from tracking.config import MqttEndpoint
from tracking.topics import COMMITTED_FIXES

log = logging.getLogger(__name__)


class CommittedFixRelay:
    """Subscribes (not shared: every API process gets every fix) and reconnects with backoff."""

    def __init__(self, endpoint: MqttEndpoint, hub: StreamHub, client_id_prefix: str) -> None:
        self._endpoint = endpoint
        self._hub = hub
        self._client_id = f"{client_id_prefix}-{socket.gethostname()}-{os.getpid()}"
        self.connected = False

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with aiomqtt.Client(
                    self._endpoint.host,
                    self._endpoint.port,
                    username=self._endpoint.username,
                    password=self._endpoint.password,
                    identifier=self._client_id,
                    clean_session=True,
                    keepalive=30,
                ) as client:
                    await client.subscribe(COMMITTED_FIXES, qos=0)
                    self.connected = True
                    delay = 0.5
                    log.info("relay subscribed to %s", COMMITTED_FIXES)
                    async for message in client.messages:
                        self._forward(message.payload)
            except aiomqtt.MqttError as exc:
                self.connected = False
                wait = delay * random.uniform(0.5, 1.5)
                log.warning("relay lost the broker (%s); reconnecting in %.1f s", exc, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, 30.0)
            finally:
                self.connected = False

    def _forward(self, payload: object) -> None:
        try:
            fixes = json.loads(payload)["fixes"]  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed relay message")
            return
        # Serialised once here, sent as is to every client.
        self._hub.publish(json.dumps({"type": "fixes", "fixes": fixes}, separators=(",", ":")))
