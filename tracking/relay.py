"""Publishes what the tracking worker produces (events, ETAs) to every API process via the broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any

import aiomqtt

from tracking.config import MqttEndpoint
from tracking.topics import COMMITTED_ETAS, COMMITTED_EVENTS

log = logging.getLogger(__name__)


class TrackingPublisher:
    """One MQTT client, reconnected with jittered backoff; events with QoS 1, ETAs with QoS 0
    (the next fix brings a fresher one). What cannot be published is stored anyway."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str) -> None:
        self._endpoint = endpoint
        self._client_id = client_id
        self._client: aiomqtt.Client | None = None

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
                    keepalive=30,
                ) as client:
                    self._client, delay = client, 0.5
                    log.info(
                        "tracking publisher connected to %s:%d", self._endpoint.host, self._endpoint.port
                    )
                    await asyncio.Future()  # hold the connection until it fails or we are cancelled
            except aiomqtt.MqttError as exc:
                wait = delay * random.uniform(0.5, 1.5)
                log.warning("tracking publisher lost the broker (%s); reconnecting in %.1f s", exc, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, 30.0)
            finally:
                self._client = None

    async def publish_events(self, events: list[dict[str, Any]]) -> None:
        await self._publish(COMMITTED_EVENTS, {"events": events}, qos=1)

    async def publish_etas(self, etas: list[dict[str, Any]]) -> None:
        await self._publish(COMMITTED_ETAS, {"etas": etas}, qos=0)

    async def _publish(self, topic: str, body: dict[str, Any], qos: int) -> None:
        client = self._client
        if client is None:
            log.warning("broker unavailable: %s not relayed (they are stored)", topic)
            return
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(topic, json.dumps(body, separators=(",", ":"), default=str), qos=qos)
