"""OwnTracks end to end: the handler on the real ingest and PostGIS (acknowledgements after the
commit, in order), and on the project's RabbitMQ node through the gateway's BrokerConsumer. Payloads: see
test_owntracks_decode.py for their sources; the ingest's clock is set just after their time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiomqtt
import psycopg
import pytest
from prometheus_client import REGISTRY

from gateway.batch_writer import Ack
from gateway.handlers.owntracks import OwnTracksHandler
from gateway.transports.amqp import BrokerConsumer
from tests.gateway.harness import IngestHarness
from tests.gateway.test_owntracks_decode import (
    BOOKLET_ENCRYPTED,
    BOOKLET_LWT,
    BOOKLET_TRANSITION,
    TRACCAR_ANDROID,
    TRACCAR_IOS,
    at,
)
from tests.services import Broker
from tracking.fleet import register_device, register_vehicle

PLATE = "43A10001"


@pytest.fixture
async def harness(db: psycopg.Connection, database_url: str) -> AsyncIterator[IngestHarness]:
    register_vehicle(db, PLATE, "115-T1")
    register_device(db, "jane.phone", "owntracks", PLATE)
    async with IngestHarness(database_url, flush_interval_ms=50) as h:
        h.ingest.clock = lambda: at(1551874878) + timedelta(seconds=30)
        yield h


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_locations_are_stored_and_every_message_acknowledged_after_commit_in_order(
    db: psycopg.Connection, harness: IngestHarness
) -> None:
    handler = OwnTracksHandler(harness.ingest)
    register_device(db, "jane.car", "gt06")
    ignored = sample("amb_gateway_ignored_messages_total", {"protocol": "owntracks", "type": "lwt"})
    encrypted = sample(
        "amb_gateway_protocol_refused_total", {"protocol": "owntracks", "reason": "encrypted_payload"}
    )
    wrong = sample(
        "amb_gateway_protocol_refused_total", {"protocol": "owntracks", "reason": "wrong_protocol"}
    )
    offline = json.dumps(json.loads(TRACCAR_ANDROID) | {"tst": 1551874818, "conn": "o"}).encode()
    messages = [
        ("owntracks/jane/phone", TRACCAR_ANDROID, "location"),
        ("owntracks/jane/phone", BOOKLET_LWT, "lwt"),
        ("owntracks/jane/phone", BOOKLET_TRANSITION, "transition"),
        ("owntracks/jane/phone", BOOKLET_ENCRYPTED, "encrypted"),
        ("owntracks/jane/phone", offline, "offline"),
        ("owntracks/nobody/phone", TRACCAR_ANDROID, "unknown"),
        ("owntracks/jane/car", TRACCAR_ANDROID, "other-protocol"),
        ("owntracks/ja.ne/phone", TRACCAR_ANDROID, "bad-topic"),
    ]
    rows_of_jane_at_ack: list[int] = []
    for topic, payload, name in messages:
        record = harness.recording_ack(name)

        def ack(record: Ack = record) -> None:
            record()
            rows_of_jane_at_ack.append(len(harness.stored("jane.phone")))

        await handler.handle(topic, payload, ack)
    await harness.writer.drain()
    assert harness.acked == [name for _, _, name in messages]
    # Each acknowledgement came after the commit of its own fix (and of those before it).
    assert rows_of_jane_at_ack[0] >= 1 and rows_of_jane_at_ack[4] == 2
    rows = harness.stored("jane.phone")
    assert [(r[0], r[5]) for r in rows] == [(at(1551874818), True), (at(1551874878), False)]
    live = rows[1]
    assert (live[1], live[2], live[3], live[4]) == (
        pytest.approx(46.0681247),
        pytest.approx(11.1512805),
        0.0,
        None,
    )
    assert live[6] == {
        "battery_pct": 46.0,
        "trigger": "manual",
        "connection": "wifi",
        "vertical_accuracy_m": 2.0,
        "tid": "5t",
    }
    assert (
        sample("amb_gateway_ignored_messages_total", {"protocol": "owntracks", "type": "lwt"}) == ignored + 1
    )
    assert (
        sample("amb_gateway_protocol_refused_total", {"protocol": "owntracks", "reason": "encrypted_payload"})
        == encrypted + 1
    )
    assert (
        sample("amb_gateway_protocol_refused_total", {"protocol": "owntracks", "reason": "wrong_protocol"})
        == wrong + 1
    )
    assert harness.stored("jane.car") == []


async def test_through_the_broker(
    db: psycopg.Connection, harness: IngestHarness, broker: Broker, unique: str
) -> None:
    ingest = BrokerConsumer(
        broker.endpoint("gateway"),
        [OwnTracksHandler(harness.ingest)],
        harness.ingest.after_commit,
        harness.writer.drain,
        prefetch=100,
    )
    task = asyncio.create_task(ingest.run())
    try:
        await asyncio.sleep(0.3)  # subscribed
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"jane-{unique}") as phone:
            await phone.publish("owntracks/jane/phone", TRACCAR_ANDROID, qos=1)
            await phone.publish("owntracks/jane/phone/event", BOOKLET_TRANSITION, qos=1)  # not subscribed
            ios = json.dumps(json.loads(TRACCAR_IOS) | {"tst": 1551874868}).encode()
            await phone.publish("owntracks/jane/phone", ios, qos=1)
        async with asyncio.timeout(5):
            while len(harness.stored("jane.phone")) < 2:  # noqa: ASYNC110 - polling the database
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    rows = harness.stored("jane.phone")
    assert [(r[0], r[3], r[4]) for r in rows] == [(at(1551874868), 61.0, 271.0), (at(1551874878), 0.0, None)]
