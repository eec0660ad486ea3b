"""The broker transport: devices' MQTT messages, consumed from the quorum queue `amb.ingest` over
AMQP, each acknowledged only once the batch holding it has committed.

Devices publish MQTT QoS 1 to RabbitMQ, which PUBACKs only after the quorum queue has the message
on disk (on a majority of its replicas). Gateways are competing consumers of that queue: each
gets up to `prefetch` unacknowledged messages; a gateway that dies, or loses its connection,
leaves its unacknowledged messages to the broker, which hands them to the other consumers (or to
this one when it comes back). Storage is idempotent on (device, fix time), so such redeliveries
store nothing twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import aiormq
from aio_pika.abc import AbstractConnection
from aiormq.abc import DeliveredMessage
from paho.mqtt.client import topic_matches_sub

from gateway import metrics
from gateway.batch_writer import Ack
from messaging.connection import keep_connected, until_closed
from messaging.publisher import CommittedPublisher
from messaging.topology import INGEST_QUEUE, mqtt_topic
from runtime.config import AmqpEndpoint

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 10.0


class MqttHandler(Protocol):
    """Decodes the device messages of one MQTT topic filter (e.g. `trackers/+/position`)."""

    topic_filter: str

    async def handle(self, topic: str, payload: bytes, ack: Ack) -> None: ...


class BrokerConsumer:
    """Consumes `amb.ingest` with a bounded prefetch, one message at a time in delivery order,
    and reconnects with jittered backoff; relays committed data with the same connection."""

    def __init__(
        self,
        endpoint: AmqpEndpoint,
        handlers: Sequence[MqttHandler],
        after_commit: Callable[[Ack], Awaitable[None]],
        drain: Callable[[], Awaitable[None]],
        prefetch: int,
        name: str | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._handlers = list(handlers)
        self._after_commit = after_commit
        self._drain = drain
        self._prefetch = prefetch
        self._name = name or f"amb-gateway@{socket.gethostname()}:{os.getpid()}"
        self.publisher = CommittedPublisher(endpoint, self._name)

    async def run(self) -> None:
        await keep_connected(self._endpoint, self._name, self._session, log, "gateway consumer")

    async def _session(self, connection: AbstractConnection) -> None:
        # The consumer works on the AMQP library's own channel: its delivered messages are plain
        # records, which costs the gateway far less per message than aio-pika's message objects.
        channel = await (await connection.channel()).get_underlay_channel()
        await channel.basic_qos(prefetch_count=self._prefetch)
        await channel.queue_declare(INGEST_QUEUE, passive=True)  # declared by the broker's definitions
        acker = _Acker(channel)
        inbox: asyncio.Queue[DeliveredMessage] = asyncio.Queue()  # at most `prefetch` messages

        async def deliver(message: DeliveredMessage) -> None:
            inbox.put_nowait(message)

        consumer = await channel.basic_consume(INGEST_QUEUE, deliver, no_ack=False)
        await self.publisher.attach(connection)
        metrics.BROKER_CONNECTED.set(1)
        tasks = [
            asyncio.create_task(self._consume(inbox, acker), name="broker-consume"),
            asyncio.create_task(acker.run(), name="broker-acks"),
            asyncio.create_task(until_closed(connection), name="broker-watch"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what ended the session
        finally:
            metrics.BROKER_CONNECTED.set(0)
            self.publisher.detach()
            tasks[0].cancel()
            # Commit and acknowledge what was read, while the connection may still be up (shutdown).
            await asyncio.shield(self._drain_bounded())
            await asyncio.shield(acker.send_pending())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                if not channel.is_closed and consumer.consumer_tag:
                    await asyncio.wait_for(channel.basic_cancel(consumer.consumer_tag), 2)

    async def _drain_bounded(self) -> None:
        try:
            await asyncio.wait_for(self._drain(), DRAIN_TIMEOUT_S)
        except TimeoutError:
            log.warning(
                "writer not drained in %.0f s: unacknowledged messages go back to the broker", DRAIN_TIMEOUT_S
            )

    async def _consume(self, inbox: asyncio.Queue[DeliveredMessage], acker: _Acker) -> None:
        while True:
            message = await inbox.get()
            ack = acker.acker_for(message.delivery_tag)
            topic = mqtt_topic(message.routing_key or "")
            handler = self._handler_for(topic)
            if handler is None:  # a topic no handler asked for: nothing to store, keep ack order
                await self._after_commit(ack)
                continue
            await handler.handle(topic, message.body, ack)

    def _handler_for(self, topic: str) -> MqttHandler | None:
        return next((h for h in self._handlers if topic_matches_sub(h.topic_filter, topic)), None)


class _Acker:
    """Sends the acknowledgements of one channel in the order they are given, from its own task.

    The writer acknowledges messages in delivery order, so the tags usually come as one run
    continuing the last one acknowledged: such a run is acknowledged with one `multiple` ack (every
    tag up to its end), anything else tag by tag. Delivery tags belong to their channel: an ack
    for a channel that has since closed is dropped (the broker has already put that message back
    for redelivery)."""

    def __init__(self, channel: aiormq.abc.AbstractChannel) -> None:
        self._channel = channel
        self._tags: collections.deque[int] = collections.deque()
        self._ready = asyncio.Event()
        self._acked_through = 0  # every tag up to this one is acknowledged (tags start at 1)

    def acker_for(self, delivery_tag: int | None) -> Ack:
        def ack() -> None:
            if delivery_tag is not None:
                self._tags.append(delivery_tag)
                self._ready.set()

        return ack

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            await self.send_pending()

    async def send_pending(self) -> None:
        while self._tags:
            if self._channel.is_closed:
                self._tags.clear()
                return
            end = self._take_run()
            if end is not None:
                await self._channel.basic_ack(end, multiple=True, wait=False)
                self._acked_through = end
            else:
                await self._channel.basic_ack(self._tags.popleft(), wait=False)

    def _take_run(self) -> int | None:
        """Pop the run of consecutive tags at the head if it continues what is acknowledged."""
        if self._tags[0] != self._acked_through + 1:
            return None
        end = self._tags.popleft()
        while self._tags and self._tags[0] == end + 1:
            end = self._tags.popleft()
        return end
