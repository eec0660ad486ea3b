"""The project's message engine keeps its promise on its own: a device's QoS 1 publish is PUBACKed
only once a queue holds it durably, a message no queue takes is parked rather than dropped, and
the ingest queue survives a broker restart (the fault suite, `make faults`, does the same under
load with the whole pipeline)."""

from __future__ import annotations

import asyncio
import re
import socket

import aio_pika
import aiomqtt
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage

from gateway.transports.amqp import _Acker
from messaging.connection import connect
from runtime.config import AmqpEndpoint
from tests.services import Broker, wait_for

pytestmark = pytest.mark.slow
BURST = 2_000


async def test_a_burst_is_queued_durably_and_survives_a_broker_restart(
    tmp_path_factory: pytest.TempPathFactory, unique: str
) -> None:
    broker = Broker(tmp_path_factory.mktemp("own-broker")).start()
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"burst-{unique}") as device:
            device.pending_calls_threshold = 1000
            for i in range(BURST):
                await device.publish(f"trackers/burst-{unique}/position", str(i), qos=1)
        # Every publish was PUBACKed: the quorum queue holds them all (no gateway consumes here).
        assert broker.queue_depth() == BURST
        broker.stop()
        broker.start()
        wait_for(lambda: broker.queue_depth() == BURST, 30, f"{BURST} messages after the restart")
    finally:
        broker.stop()


async def test_the_broker_serves_its_metrics_to_prometheus_on_loopback(broker: Broker, unique: str) -> None:
    """The management UI has no statistics (rabbitmq.conf): queue depth and connections are read
    from the rabbitmq_prometheus endpoint instead, bound to 127.0.0.1 like the management API."""
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"metrics-{unique}"):

        def scraped() -> str:
            body = httpx.get(f"http://127.0.0.1:{broker.prometheus_port}/metrics/per-object", timeout=5).text
            return body if 'rabbitmq_queue_messages_ready{vhost="/",queue="amb.ingest"}' in body else ""

        body = await asyncio.to_thread(wait_for, scraped, 20, "amb.ingest in the broker's metrics")
        connections = re.search(r"^rabbitmq_connections (\d+)", body, re.M)
        assert connections and int(connections.group(1)) >= 1  # this device's, and the services'
    lan = _lan_address()
    if lan is not None:  # a machine with a network besides loopback: the metrics do not answer there
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{lan}:{broker.prometheus_port}/metrics", timeout=2)


def _lan_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


async def test_a_message_no_queue_takes_is_parked_not_dropped(broker: Broker, unique: str) -> None:
    before = broker.queue_depth("amb.unrouted")
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"stray-{unique}") as client:
        await client.publish(f"elsewhere/{unique}", b"x", qos=1)
    wait_for(lambda: broker.queue_depth("amb.unrouted") == before + 1, 10, "the stray message parked")


async def test_acks_in_runs_and_out_of_order_leave_nothing_unacknowledged(
    broker: Broker, unique: str
) -> None:
    """The gateway's acker: consecutive tags go as one `multiple` ack, the rest one by one; either
    way every message given to it is acknowledged and no other is."""
    endpoint = AmqpEndpoint("127.0.0.1", broker.amqp_port, "/", "amb-admin", broker.admin_password)
    async with await connect(endpoint, "test-acker") as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        queue = await channel.declare_queue(f"acker-{unique}", exclusive=True)
        for i in range(12):
            await channel.default_exchange.publish(aio_pika.Message(str(i).encode()), routing_key=queue.name)
        got: list[AbstractIncomingMessage] = []

        async def keep(message: AbstractIncomingMessage) -> None:
            got.append(message)

        await queue.consume(keep)
        async with asyncio.timeout(10):
            while len(got) < 12:  # noqa: ASYNC110 - deliveries arrive on the connection's task
                await asyncio.sleep(0.02)
        acker = _Acker(await channel.get_underlay_channel())
        tags = [m.delivery_tag for m in got]
        # 1-3 in a run, then 5 before 4, then 6-10 in a run; 11 and 12 never acknowledged.
        for tag in [*tags[:3], tags[4], tags[3], *tags[5:10]]:
            acker.acker_for(tag)()
        await acker.send_pending()
        await asyncio.sleep(0.3)
        assert not channel.is_closed  # no ack for an unknown or twice-acknowledged tag
        await channel.close()  # the two unacknowledged messages go back to the queue
        check = await connection.channel()
        declared = await check.declare_queue(queue.name, passive=True)
        assert declared.declaration_result.message_count == 2
