"""Publishes what the tracking worker produces (events, ETAs) to every API process via the broker."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import aiomqtt

from tracking.config import MqttEndpoint
from tracking.mqtt import keep_connected
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
        await keep_connected(self._endpoint, self._client_id, self._hold, log, "tracking publisher")

    async def _hold(self, client: aiomqtt.Client) -> None:
        self._client = client
        try:
            await client.messages.__anext__()  # nothing is subscribed: returns only when the connection fails
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
