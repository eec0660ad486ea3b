"""Publishing like a tracker does, for the tests."""

from __future__ import annotations

import json

import aiomqtt

from tests.services import Broker
from tracking.topics import device_position_topic


async def publish_fixes(broker: Broker, device_id: str, *payloads: object, qos: int = 1) -> None:
    """Publish each payload (a fix object, an array, or raw bytes) as the device, with QoS 1."""
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"{device_id}-pub") as client:
        for payload in payloads:
            body = payload if isinstance(payload, bytes) else json.dumps(payload)
            await client.publish(device_position_topic(device_id), body, qos=qos)
