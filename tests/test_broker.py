"""The project's broker configuration keeps every QoS 1 message for a consumer that holds its
acknowledgements (as the gateway does until its commit) — Mosquitto's defaults drop them."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from gateway.transports.mqtt import ManualAckClient
from tests.services import Broker

pytestmark = pytest.mark.slow
BURST = 10_000


async def test_a_burst_to_a_consumer_holding_its_acks_loses_nothing(broker: Broker, unique: str) -> None:
    topic = f"burst/{unique}"
    received: list[aiomqtt.Message] = []
    async with ManualAckClient(
        "127.0.0.1", broker.port, identifier=f"slow-{unique}", clean_session=False
    ) as consumer:
        await consumer.subscribe(topic, qos=1)

        async def consume() -> None:
            async for message in consumer.messages:
                received.append(message)
                if len(received) == BURST:
                    return

        reader = asyncio.create_task(consume())
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"burst-{unique}") as producer:
            producer.pending_calls_threshold = 1000  # 500 publishes in flight on purpose
            for start in range(0, BURST, 500):
                await asyncio.gather(
                    *(producer.publish(topic, str(i), qos=1) for i in range(start, min(start + 500, BURST)))
                )
        # The consumer has acknowledged nothing yet: the broker keeps the rest queued for it.
        await asyncio.sleep(0.5)
        assert len(received) < BURST
        # Now acknowledge, in order, as a consumer committing batches does; the queue drains fully.
        acked = 0
        async with asyncio.timeout(60):
            while acked < BURST:
                while acked < len(received):
                    consumer.ack(received[acked])
                    acked += 1
                await asyncio.sleep(0.02)
        await reader
        payloads = {m.payload for m in received}
    assert len(payloads) == BURST
