"""Publishing like a tracker does, and like a gateway relays committed data, for the tests."""

from __future__ import annotations

import json
from typing import Any

import aiomqtt

from messaging.connection import connect
from messaging.device_topics import device_position_topic
from messaging.publisher import CommittedPublisher
from tests.services import Broker


async def publish_fixes(broker: Broker, device_id: str, *payloads: object, qos: int = 1) -> None:
    """Publish each payload (a fix object, an array, or raw bytes) as the device, with QoS 1."""
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"{device_id}-pub") as client:
        for payload in payloads:
            body = payload if isinstance(payload, bytes) else json.dumps(payload)
            await client.publish(device_position_topic(device_id), body, qos=qos)


async def publish_committed(broker: Broker, kind: str, items: list[dict[str, Any]]) -> None:
    """Publish what a gateway or the tracker would after a commit (`fixes`, `events`, `etas`)."""
    endpoint = broker.endpoint("gateway")
    publisher = CommittedPublisher(endpoint, "test-publisher")
    async with await connect(endpoint, "test-publisher") as connection:
        await publisher.attach(connection)
        assert await publisher.publish(kind, {kind: items})
